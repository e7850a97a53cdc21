"""Simulated crowd workers (pure: no Django).

- ``ReplayCrowd``: the dataset's real workers; each answers only the tasks they answered in the
  data, with their recorded label, so "answers bought" is bounded by the recorded answers.
- ``SyntheticCrowd``: workers who answer any task, drawing their label from a confusion matrix
  estimated on the dataset's gold, so any number of answers can be bought.

Both also give each worker a pace (seconds per answer) for the simulated clock, and a replayed
crowd a presence: how long each worker is away between two answers.
"""

from __future__ import annotations

import numpy as np

from .data import Dataset

#: Median seconds per answer of the typical worker, and the spread of worker medians (log scale).
PACE_MEDIAN = 15.0
PACE_SPREAD = 0.5
PACE_JITTER = 0.4  # spread of one worker's answer times around their median (log scale)
PACE_MIN = 3.0  # never faster than this: nobody reads an item in under 3 s
#: Pseudo-answers per true label pulling a worker's estimated confusion row toward the crowd's.
CONFUSION_PSEUDO_ANSWERS = 2.0


class Crowd:
    """What the engine asks of a crowd: names, eligible tasks, answers and answer times."""

    kind = ""

    def __init__(self, names: list[str], rng: np.random.Generator) -> None:
        self.names = names
        self.rng = rng
        self._pace = np.clip(
            PACE_MEDIAN * np.exp(rng.normal(0.0, PACE_SPREAD, len(names))), PACE_MIN, None
        )

    def eligible(self, worker: int) -> list[str] | None:
        """The tasks ``worker`` can answer, or ``None`` for any task."""
        return None

    def answer(self, worker: int, task: str) -> str | None:
        """The label ``worker`` gives to ``task``, or ``None`` if they cannot (they skip)."""
        raise NotImplementedError

    def pause(self, worker: int) -> float:
        """Time ``worker`` spends away between two answers (none: everyone works back to back)."""
        return 0.0

    def seconds(self, worker: int) -> float:
        """Time ``worker`` takes for their next answer."""
        return max(PACE_MIN, float(self._pace[worker] * np.exp(self.rng.normal(0, PACE_JITTER))))


PRESENCES = ("recorded", "equal")


class ReplayCrowd(Crowd):
    """The dataset's workers. ``presence="recorded"`` (the default) keeps each worker's share of
    the work as in the data: everyone spreads their recorded answers over the same span, the time
    the worker with the most work needs back to back, taking exponential breaks between answers,
    so at any moment of the run answers come from the crowd in the proportions the data recorded.
    ``"equal"``: everyone works back to back, which over-represents the workers who answered
    little while the run is young (what a run stopped by its budget mostly sees).
    """

    kind = "replay"

    def __init__(
        self, dataset: Dataset, rng: np.random.Generator, presence: str = "recorded"
    ) -> None:
        self.recorded = dataset.by_worker()
        names = sorted(self.recorded)
        super().__init__(names, rng)
        self._tasks = [self.recorded[w] for w in names]
        self._away = np.zeros(len(names))
        if presence == "recorded":
            # Every worker spreads their answers over the same span: the time the one with the
            # most work (answers × own pace) needs back to back.
            volume = np.array([len(t) for t in self._tasks], float)
            span = float((volume * self._pace).max())
            self._away = np.maximum(span / volume - self._pace, 0.0)

    def pause(self, worker: int) -> float:
        away = self._away[worker]
        return float(self.rng.exponential(away)) if away > 0 else 0.0

    def eligible(self, worker: int) -> list[str]:
        return list(self._tasks[worker])

    def answer(self, worker: int, task: str) -> str | None:
        return self._tasks[worker].get(task)

    @property
    def capacity(self) -> int:
        return sum(len(t) for t in self._tasks)


def estimate_confusions(dataset: Dataset) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each real worker's confusion matrix on the gold tasks, smoothed toward the crowd's.

    Returns (workers, confusions W×K×K indexed ``[worker, true, answered]``, answers on gold per
    worker). Row ``k`` of worker ``w`` is ``(N_w[k] + s·C[k]) / (Σ N_w[k] + s)`` where ``N_w``
    counts the worker's answers on gold tasks, ``C`` is the pooled confusion of the whole crowd
    and ``s = CONFUSION_PSEUDO_ANSWERS``: a worker seen on few gold tasks looks like the crowd.
    """
    code = {label: i for i, label in enumerate(dataset.labels)}
    workers = dataset.workers
    index = {w: i for i, w in enumerate(workers)}
    k = len(dataset.labels)
    counts = np.zeros((len(workers), k, k))
    for t, w, label in dataset.answers:
        truth = dataset.gold.get(t)
        if truth is not None:
            counts[index[w], code[truth], code[label]] += 1
    pooled = counts.sum(axis=0) + 1.0  # one pseudo-answer per cell: no label is impossible
    pooled /= pooled.sum(axis=1, keepdims=True)
    smoothed = counts + CONFUSION_PSEUDO_ANSWERS * pooled
    return workers, smoothed / smoothed.sum(axis=2, keepdims=True), counts.sum(axis=(1, 2))


class SyntheticCrowd(Crowd):
    """``n`` workers, each a copy of a real worker's estimated confusion matrix (real workers drawn
    in proportion to their gold answers, so the crowd's mix of skills is the dataset's). Answers
    are independent given the true label: items have no difficulty of their own, which makes
    synthetic runs more optimistic than replays (see docs/simulator.md)."""

    kind = "synthetic"

    def __init__(self, dataset: Dataset, rng: np.random.Generator, n_workers: int | None = None):
        real, confusions, weight = estimate_confusions(dataset)
        n = n_workers or len(real)
        super().__init__([f"synthetic-{i:04d}" for i in range(n)], rng)
        weight = weight + 1e-9
        self.source = rng.choice(len(real), size=n, p=weight / weight.sum())
        self.confusion = confusions[self.source]
        self.labels = dataset.labels
        code = {label: i for i, label in enumerate(dataset.labels)}
        # The truth of a task: its gold label, or the majority of its recorded answers.
        votes: dict[str, dict[str, int]] = {}
        for t, _, label in dataset.answers:
            votes.setdefault(t, {}).setdefault(label, 0)
            votes[t][label] += 1
        self.truth = {
            t: code[dataset.gold[t]]
            if t in dataset.gold
            else code[max(sorted(votes[t]), key=votes[t].get)]
            for t in dataset.tasks
        }

    def answer(self, worker: int, task: str) -> str | None:
        row = self.confusion[worker, self.truth[task]]
        return self.labels[int(self.rng.choice(len(row), p=row))]
