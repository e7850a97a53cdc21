"""Offline baselines on recorded answers (pure: no Django): fixed overlap N, aggregated by a
method of ``aggregation``, scored on the gold.

Fixed overlap N keeps, for every task, N of its recorded answers chosen at random (all of them if
it has fewer), which is what a fixed-overlap project buys from the same crowd; repeated over
seeds, the mean accuracy and the answers kept are reported.
"""

from __future__ import annotations

import numpy as np

from aggregation import encode, make_estimator

from .data import Dataset


def _arrays(dataset: Dataset):
    t = np.asarray([a[0] for a in dataset.answers])
    w = np.asarray([a[1] for a in dataset.answers])
    lab = np.asarray([a[2] for a in dataset.answers])
    return t, w, lab


def accuracy_of(dataset: Dataset, index: np.ndarray, method: str) -> float:
    """Accuracy on the gold of ``method`` fitted on the answers ``index`` (no gold clamped)."""
    t, w, lab = _arrays(dataset)
    answers = encode(t[index], w[index], lab[index], dataset.labels)
    model = make_estimator(method).fit(answers)
    predicted = dict(
        zip(answers.task_ids.tolist(), answers.label_ids[model.labels_].tolist(), strict=True)
    )
    scored = [predicted[task] == label for task, label in dataset.gold.items() if task in predicted]
    return float(np.mean(scored)) if scored else float("nan")


def subsample(dataset: Dataset, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``n`` random recorded answers per task."""
    t, _, _ = _arrays(dataset)
    order = rng.permutation(len(t))
    _, codes = np.unique(t[order], return_inverse=True)
    # rank of each answer within its task, in the random order
    sort = np.argsort(codes, kind="stable")
    ranks = np.empty(len(t), dtype=np.int64)
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks[sort] = np.arange(len(t)) - np.repeat(starts, counts)
    return np.sort(order[ranks < n])


def fixed_overlap(dataset: Dataset, n: int, method: str, seeds: int = 3) -> tuple[float, float]:
    """Mean accuracy and mean answers of fixed overlap ``n`` with ``method`` over ``seeds``."""
    accs, sizes = [], []
    for seed in range(seeds):
        index = subsample(dataset, n, np.random.default_rng(seed))
        accs.append(accuracy_of(dataset, index, method))
        sizes.append(len(index))
    return float(np.mean(accs)), float(np.mean(sizes))


def max_overlap(dataset: Dataset) -> int:
    t, _, _ = _arrays(dataset)
    _, counts = np.unique(t, return_counts=True)
    return int(counts.max())
