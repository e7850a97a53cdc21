"""Reading a crowd dataset in the shared format (pure: no Django).

A dataset folder holds ``answers.csv`` (``task,worker,label``: one recorded crowd answer a row),
``gold.csv`` (``task,label``: the expert label of the tasks that have one), optionally
``items.csv`` (``task`` plus the item's fields) and ``PROVENANCE.md``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aggregation.learning import parse_number

#: Import columns the platform reads itself; an item field of the same name is not imported.
RESERVED_COLUMNS = frozenset({"external_id", "gold_label", "audit_label"})


class DatasetError(ValueError):
    """The folder is not a dataset in the shared format; the message says why, in one line."""


@dataclass
class Dataset:
    name: str
    labels: list[str]  # sorted; the project's label set
    tasks: list[str]  # every task with an answer or a gold label, in first-seen order
    answers: list[tuple[str, str, str]]  # (task, worker, label)
    gold: dict[str, str]
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> fields
    item_columns: list[str] = field(default_factory=list)

    @property
    def workers(self) -> list[str]:
        return sorted({w for _, w, _ in self.answers})

    def by_worker(self) -> dict[str, dict[str, str]]:
        """Each worker's recorded answers: worker -> {task: label} (a repeated pair keeps the first)."""
        out: dict[str, dict[str, str]] = {}
        for t, w, label in self.answers:
            out.setdefault(w, {}).setdefault(t, label)
        return out

    def gold_items(self) -> tuple[list[dict[str, str]], np.ndarray]:
        """The items that have fields and a gold label, by task id: their fields and gold labels
        (object array), to train and score the pre-labeler offline."""
        tasks = sorted(t for t in self.gold if t in self.items)
        return [self.items[t] for t in tasks], np.array([self.gold[t] for t in tasks], dtype=object)

    def head(self, n_tasks: int) -> Dataset:
        """The first ``n_tasks`` tasks with their answers, gold and fields (for tests and demos)."""
        keep = set(self.tasks[:n_tasks])
        return Dataset(
            name=self.name,
            labels=self.labels,
            tasks=self.tasks[:n_tasks],
            answers=[a for a in self.answers if a[0] in keep],
            gold={t: g for t, g in self.gold.items() if t in keep},
            items={t: f for t, f in self.items.items() if t in keep},
            item_columns=self.item_columns,
        )


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(
            f"{path} has no column {', '.join(missing)} (header: {reader.fieldnames})"
        )
    return list(reader)


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset folder; raises ``DatasetError`` with a one-line reason."""
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    answers = [
        (r["task"].strip(), r["worker"].strip(), r["label"].strip())
        for r in _read_csv(folder / "answers.csv", ("task", "worker", "label"))
    ]
    if not answers:
        raise DatasetError(f"{folder / 'answers.csv'} has no answers")
    if any(not (t and w and label) for t, w, label in answers):
        raise DatasetError(
            f"{folder / 'answers.csv'} has a row with an empty task, worker or label"
        )
    gold = {
        r["task"].strip(): r["label"].strip()
        for r in _read_csv(folder / "gold.csv", ("task", "label"))
        if r["label"].strip()
    }
    items: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    if (folder / "items.csv").exists():
        rows = _read_csv(folder / "items.csv", ("task",))
        columns = [c for c in rows[0] if c != "task"] if rows else []
        # Item fields become the payload; the importer's reserved column names are renamed.
        columns = [c for c in columns if c]
        items = {r["task"].strip(): {c: r[c] or "" for c in columns} for r in rows}
    tasks = list(dict.fromkeys([t for t, _, _ in answers] + list(gold)))
    labels = sorted({label for _, _, label in answers} | set(gold.values()))
    if len(labels) < 2:
        raise DatasetError(f"{folder} has fewer than two distinct labels")
    return Dataset(
        name=folder.name,
        labels=labels,
        tasks=tasks,
        answers=answers,
        gold=gold,
        items=items,
        item_columns=columns,
    )


def model_features(dataset: Dataset) -> dict[str, list[str]]:
    """The pre-labeler's features a requester would pick for this dataset's ``items.csv``.

    A column is numeric when at least 95% of its non-blank values read as numbers (``"$179.00"``
    does); every other column is text. Empty when the dataset has no item fields.
    """
    text, numeric = [], []
    for column in dataset.item_columns:
        if column in RESERVED_COLUMNS:
            continue
        values = [v for f in dataset.items.values() if (v := f.get(column, "").strip())]
        if not values:
            continue
        parsed = sum(1 for v in values if not math.isnan(parse_number(v)))
        (numeric if parsed >= 0.95 * len(values) else text).append(column)
    return {"text": text, "numeric": numeric} if text or numeric else {}


def gold_split(dataset: Dataset, share: float, rng: np.random.Generator) -> tuple[set, set]:
    """Split the gold tasks: ``share`` of them given to the platform as gold (control) items, the
    rest kept hidden for scoring. Only tasks with answers are eligible as either."""
    answered = {t for t, _, _ in dataset.answers}
    tasks = sorted(t for t in dataset.gold if t in answered)
    n_given = int(round(share * len(tasks)))
    order = rng.permutation(len(tasks))
    given = {tasks[i] for i in order[:n_given]}
    return given, set(tasks) - given


def seeded_gold_split(
    dataset: Dataset, share: float, seed: int
) -> tuple[set, set, np.random.Generator]:
    """The gold split a simulation with ``seed`` makes (the first draw of its generator), and the
    generator after it, from which the simulation draws its crowd next. The cost benchmark scores
    its offline baselines with the same split."""
    rng = np.random.default_rng(seed)
    given, hidden = gold_split(dataset, share, rng)
    return given, hidden, rng


def items_csv(dataset: Dataset, given_gold: set[str], hidden_gold: set[str]) -> bytes:
    """The import file: one row per task; gold given as ``gold_label``, hidden gold as
    ``audit_label`` (kept from workers and quality control, used only to measure accuracy)."""
    fields = [c for c in dataset.item_columns if c not in RESERVED_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "gold_label", "audit_label", *fields])
    for t in dataset.tasks:
        row = dataset.items.get(t, {})
        writer.writerow(
            [
                t,
                dataset.gold[t] if t in given_gold else "",
                dataset.gold[t] if t in hidden_gold else "",
                *[row.get(c, "") for c in fields],
            ]
        )
    return out.getvalue().encode()
