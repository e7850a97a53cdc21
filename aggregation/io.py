"""Reading answers and gold labels from CSV (standard library ``csv``, no pandas)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .encoding import Answers, encode

__all__ = ["InputError", "read_answers_csv", "read_gold_csv"]


class InputError(ValueError):
    """Bad input file: a missing column, no rows, or gold that does not fit the answers."""


def _read_columns(path: str | Path, columns: tuple[str, ...]) -> list[np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file")
            header = [h.strip() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
            idx = [header.index(c) for c in columns]
            rows = [row for row in reader if row]
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    width = max(idx) + 1
    short = next((i for i, row in enumerate(rows) if len(row) < width), None)
    if short is not None:
        raise InputError(f"{path}: line {short + 2} has too few fields")
    return [np.array([row[i] for row in rows], dtype=str) for i in idx]


def read_answers_csv(path: str | Path, label_order: list[str] | None = None) -> Answers:
    """Read a ``task,worker,label`` CSV (header required, other columns ignored), ids as strings."""
    tasks, workers, labels = _read_columns(path, ("task", "worker", "label"))
    return encode(tasks, workers, labels, label_order=label_order)


def read_gold_csv(path: str | Path, answers: Answers) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``task,label`` CSV as ``(task_codes, label_codes)`` of ``answers``.

    Raises :class:`InputError` if a gold task has no answers or its label is not an answered one.
    """
    tasks, labels = _read_columns(path, ("task", "label"))
    try:
        return answers.encode_gold(tasks, labels)
    except KeyError as exc:
        raise InputError(f"{path}: {exc.args[0]}") from None
