"""Offline baselines on recorded answers (pure: no Django): fixed overlap N, aggregated by a
method of ``aggregation``, scored on the gold.

Fixed overlap N keeps, for every task, N of its recorded answers chosen at random (all of them if
it has fewer), which is what a fixed-overlap project buys from the same crowd; repeated over
seeds, the mean accuracy and the answers kept are reported.

A baseline is scored like a simulation with the same gold split (``simulator.data.seeded_gold_split``):
the gold labels *given* to the platform are clamped in the fit (an estimator that learns from gold,
such as Dawid-Skene, gets the same known labels the platform got; majority vote cannot use them)
and accuracy is measured on the *hidden* ones only. Without a split, nothing is clamped and every
gold label scores.
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


#: A gold split: the tasks whose gold label is given to the platform, and those kept hidden.
Split = tuple[set[str], set[str]]


def accuracy_of(
    dataset: Dataset, index: np.ndarray, method: str, split: Split | None = None
) -> float:
    """Accuracy of ``method`` fitted on the answers ``index``: with a ``split``, its given gold
    clamped and scored on its hidden gold; without, no gold clamped and scored on all of it."""
    t, w, lab = _arrays(dataset)
    answers = encode(t[index], w[index], lab[index], dataset.labels)
    given, hidden = split if split is not None else (set(), set(dataset.gold))
    answered = set(answers.task_ids.tolist())
    known = sorted(task for task in given if task in answered)
    gold = answers.encode_gold(known, [dataset.gold[task] for task in known]) if known else None
    model = make_estimator(method).fit(answers, gold=gold)
    predicted = dict(
        zip(answers.task_ids.tolist(), answers.label_ids[model.labels_].tolist(), strict=True)
    )
    scored = [predicted[task] == dataset.gold[task] for task in hidden if task in predicted]
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


def fixed_overlap(
    dataset: Dataset,
    n: int,
    method: str,
    seeds: int = 3,
    splits: list[Split] | None = None,
) -> tuple[float, float]:
    """Mean accuracy and mean answers of fixed overlap ``n`` with ``method`` over ``seeds``
    draws; draw ``i`` is scored with ``splits[i % len(splits)]`` when splits are given."""
    accs, sizes = [], []
    for seed in range(seeds):
        index = subsample(dataset, n, np.random.default_rng(seed))
        split = splits[seed % len(splits)] if splits else None
        accs.append(accuracy_of(dataset, index, method, split))
        sizes.append(len(index))
    return float(np.mean(accs)), float(np.mean(sizes))


def max_overlap(dataset: Dataset) -> int:
    t, _, _ = _arrays(dataset)
    _, counts = np.unique(t, return_counts=True)
    return int(counts.max())
