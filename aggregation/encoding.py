"""Integer coding of crowd answers.

Every estimator in this package works on three parallel ``int32`` arrays (task, worker and
label codes) instead of the original ids. :func:`encode` builds them once; the arrays that
map codes back to ids travel with them in an :class:`Answers` object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["Answers", "encode", "GoldLike"]

#: Gold labels accepted by ``fit(answers, gold=...)``: a mapping ``{task_code: label_code}`` or a
#: pair of arrays ``(task_codes, label_codes)``.
GoldLike = Mapping[int, int] | tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray]


def _codes(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} codes must be integers, got {arr.dtype}")
    return arr.astype(np.int32, copy=False)


@dataclass(frozen=True, eq=False)
class Answers:
    """Crowd answers as integer codes, with the tables that decode them.

    Attributes
    ----------
    task, worker, label : ndarray of int32, shape (n_answers,)
        Codes of the answer's task, worker and label. Code ``c`` of a column stands for
        ``task_ids[c]`` (resp. ``worker_ids[c]``, ``label_ids[c]``).
    task_ids, worker_ids, label_ids : ndarray
        Original ids by code. Tasks and workers are numbered in sorted id order, labels in
        sorted order or in the ``label_order`` given to :func:`encode`.

    A worker answering the same task twice counts as two independent answers.
    """

    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    task_ids: np.ndarray
    worker_ids: np.ndarray
    label_ids: np.ndarray

    def __post_init__(self) -> None:
        n = self.task.shape[0]
        if self.worker.shape[0] != n or self.label.shape[0] != n:
            raise ValueError("task, worker and label must have the same length")
        for col, ids in (
            (self.task, self.task_ids),
            (self.worker, self.worker_ids),
            (self.label, self.label_ids),
        ):
            if n and (col.min() < 0 or col.max() >= len(ids)):
                raise ValueError("a code is out of range of its id table")

    @classmethod
    def from_codes(
        cls,
        task: Any,
        worker: Any,
        label: Any,
        *,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_labels: int | None = None,
    ) -> Answers:
        """Wrap arrays that are already integer codes (ids are then the codes themselves).

        ``n_tasks``, ``n_workers`` and ``n_labels`` default to ``max(code) + 1``; pass them to
        keep tasks, workers or labels that have no answer (a task with no answer gets the class
        prior as its posterior).
        """
        t, w, lab = _codes(task, "task"), _codes(worker, "worker"), _codes(label, "label")

        def size(col: np.ndarray, given: int | None) -> int:
            return int(given) if given is not None else int(col.max()) + 1 if col.size else 0

        return cls(
            t,
            w,
            lab,
            np.arange(size(t, n_tasks)),
            np.arange(size(w, n_workers)),
            np.arange(size(lab, n_labels)),
        )

    @property
    def n_answers(self) -> int:
        return int(self.task.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_labels(self) -> int:
        return len(self.label_ids)

    # --- cached structures shared by every estimator fitted on these answers -------------
    @cached_property
    def by_task(self) -> sp.csr_matrix:
        """Incidence matrix ``A`` (tasks × workers·K): ``A[t, w*K + l]`` = answers of ``w`` to ``t``
        with label ``l``. ``A @ table`` sums a per-(worker, label) table row over each task's
        answers in compiled code; it is the vectorized segmented sum of the E-step."""
        k = self.n_labels
        key = self.worker.astype(np.int64) * k + self.label
        mat = sp.csr_matrix(
            (np.ones(self.n_answers), (self.task, key)),
            shape=(self.n_tasks, self.n_workers * k),
        )
        mat.sum_duplicates()
        return mat

    @cached_property
    def by_key(self) -> sp.csc_matrix:
        """Transpose of :attr:`by_task` (workers·K × tasks), a CSC view sharing its arrays: the
        M-step's ``by_key @ q`` scatters each task's row of ``q`` into its answers' pairs,
        reading ``q`` in order."""
        return self.by_task.T

    @cached_property
    def key_count(self) -> np.ndarray:
        """Answers per (worker, label) pair, shape (n_workers, n_labels)."""
        k = self.n_labels
        key = self.worker.astype(np.int64) * k + self.label
        return np.bincount(key, minlength=self.n_workers * k).reshape(self.n_workers, k)

    @cached_property
    def vote_count(self) -> np.ndarray:
        """Votes per (task, label), shape (n_tasks, n_labels), float64."""
        k = self.n_labels
        flat = self.task.astype(np.int64) * k + self.label
        counts = np.bincount(flat, minlength=self.n_tasks * k)
        return counts.reshape(self.n_tasks, k).astype(np.float64)

    # --- gold -------------------------------------------------------------------------------
    def encode_gold(
        self, tasks: Iterable[Any], labels: Iterable[Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Translate gold ``(task id, label)`` pairs into ``(task_codes, label_codes)``.

        Raises ``KeyError`` naming the first task that has no answer or label that is unknown.
        """
        tasks = np.asarray(list(tasks) if not isinstance(tasks, np.ndarray) else tasks)
        labels = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
        t_codes = _lookup(self.task_ids, tasks, "task has no answers")
        l_codes = _lookup(self.label_ids, labels, "gold label is not among the answers' labels")
        return t_codes, l_codes

    def decode_labels(self, codes: np.ndarray) -> np.ndarray:
        """Original labels of an array of label codes."""
        return self.label_ids[np.asarray(codes)]


def _lookup(table: np.ndarray, values: np.ndarray, what: str) -> np.ndarray:
    """Codes of ``values`` in ``table`` (any order), by one sort and a binary search."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int32)
    table = np.asarray(table)
    values = values.astype(table.dtype) if table.dtype.kind in "US" else values
    order = np.argsort(table, kind="stable")
    pos = np.searchsorted(table[order], values)
    pos = np.minimum(pos, len(table) - 1)
    found = table[order][pos] == values
    if not np.all(found):
        raise KeyError(f"{what}: {str(values[~found][0])!r}")
    return order[pos].astype(np.int32)


def gold_arrays(
    gold: GoldLike | None, n_tasks: int, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Normalize a gold argument to two int arrays ``(task_codes, label_codes)`` and check range."""
    if gold is None:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    if isinstance(gold, Mapping):
        t = np.fromiter(gold.keys(), dtype=np.intp, count=len(gold))
        lab = np.fromiter(gold.values(), dtype=np.intp, count=len(gold))
    else:
        t, lab = (np.asarray(a, dtype=np.intp).ravel() for a in gold)
    if t.shape != lab.shape:
        raise ValueError("gold task and label arrays differ in length")
    if t.size and (t.min() < 0 or t.max() >= n_tasks):
        raise ValueError("a gold task code is out of range")
    if lab.size and (lab.min() < 0 or lab.max() >= n_labels):
        raise ValueError("a gold label code is out of range")
    return t, lab


def encode(
    tasks: Sequence[Any] | np.ndarray,
    workers: Sequence[Any] | np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    label_order: Sequence[Any] | None = None,
) -> Answers:
    """Encode three parallel columns of answers as ``int32`` codes.

    Parameters
    ----------
    tasks, workers, labels : array-like, shape (n_answers,)
        One answer per position: ``workers[i]`` gave ``labels[i]`` to ``tasks[i]``.
    label_order : sequence, optional
        Every possible label, in the order of the label codes (so a label nobody chose
        still gets a column in ``proba_``). Default: the sorted distinct labels answered.

    Returns
    -------
    Answers
        Codes and decoding tables; ids are numbered in sorted order (``np.unique``).

    Raises
    ------
    ValueError
        If the columns differ in length, or a label is not in ``label_order``.
    """
    t_arr, w_arr, l_arr = (np.asarray(c) for c in (tasks, workers, labels))
    if not (t_arr.shape == w_arr.shape == l_arr.shape) or t_arr.ndim != 1:
        raise ValueError("tasks, workers and labels must be 1-D and of equal length")
    task_ids, t = np.unique(t_arr, return_inverse=True)
    worker_ids, w = np.unique(w_arr, return_inverse=True)
    if label_order is None:
        label_ids, lab = np.unique(l_arr, return_inverse=True)
    else:
        label_ids = np.asarray(label_order)
        if len(np.unique(label_ids)) != len(label_ids):
            raise ValueError("label_order has duplicates")
        try:
            lab = _lookup(label_ids, l_arr, "label not in label_order")
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    return Answers(
        t.astype(np.int32),
        w.astype(np.int32),
        np.asarray(lab).astype(np.int32),
        task_ids,
        worker_ids,
        label_ids,
    )
