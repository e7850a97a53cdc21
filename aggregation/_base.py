"""Shared pieces of the estimators: the base class and log-space row normalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from .encoding import Answers

#: Floor of probabilities that enter a logarithm when no prior smooths them (crowd-kit's value).
EPS = 1e-10


def row_max(x: np.ndarray) -> np.ndarray:
    """``x.max(axis=1)`` for a tall, narrow array (tasks × labels).

    numpy reduces along a short axis row by row, which is several times slower than K
    element-wise passes over the columns; the loop is over labels, never over answers.
    """
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        np.maximum(out, x[:, j], out=out)
    return out


def row_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=1)`` for a tall, narrow array, as one BLAS matrix-vector product."""
    return x @ np.ones(x.shape[1])


def col_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=0)`` for a tall, narrow array, as one BLAS vector-matrix product."""
    return np.ones(x.shape[0]) @ x


def log_normalize(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn unnormalized log-probabilities into probabilities, row by row.

    Returns ``(proba, log_z)`` where ``log_z[i] = log Σ_k exp(log_joint[i, k])`` (the log of the
    row's marginal likelihood) and ``proba = exp(log_joint - log_z)``.

    Each row is first shifted by its mean (one BLAS product, where a row maximum costs K
    strided passes); rows whose spread overflows ``exp`` (hundreds of nats, only on tasks
    with very many answers) are redone shifted by their maximum, which is always safe.
    """
    n, k = log_joint.shape
    if k == 0:
        return log_joint.copy(), np.zeros(n)
    shift = row_sum(log_joint) / k
    proba = np.subtract(log_joint, shift[:, None])
    with np.errstate(over="ignore"):
        np.exp(proba, out=proba)
    total = row_sum(proba)
    bad = ~np.isfinite(total)
    if bad.any():
        rows = log_joint[bad]
        shift[bad] = rows.max(axis=1)
        proba[bad] = np.exp(rows - shift[bad][:, None])
        total[bad] = proba[bad].sum(axis=1)
    proba /= total[:, None]
    return proba, np.log(total) + shift


def argmax_labels(proba: np.ndarray) -> np.ndarray:
    """Most probable label code per row; ties go to the smallest label code."""
    return proba.argmax(axis=1).astype(np.int32)


def skills_from_confusion(confusion: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """A worker's estimated accuracy ``Σ_k π_k C_w[k, k]``: the chance they answer right on a
    random task drawn from the class prior ``π``."""
    diag = np.diagonal(confusion, axis1=1, axis2=2)
    return diag @ class_prior


class Aggregator:
    """Base class: scikit-learn style ``get_params``/``set_params`` and ``fit_predict`` helpers.

    Subclasses store their parameters in ``__init__`` (and nothing else) and set fitted
    attributes ending in ``_`` in ``fit``.
    """

    _param_names: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn API
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> Aggregator:
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"unknown parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, answers: Answers, **kwargs: Any) -> Aggregator:  # pragma: no cover
        raise NotImplementedError

    def fit_predict(self, answers: Answers, **kwargs: Any) -> np.ndarray:
        """Fit and return ``labels_`` (label codes per task)."""
        return self.fit(answers, **kwargs).labels_  # type: ignore[attr-defined]

    def fit_predict_proba(self, answers: Answers, **kwargs: Any) -> np.ndarray:
        """Fit and return ``proba_`` (tasks × labels)."""
        return self.fit(answers, **kwargs).proba_  # type: ignore[attr-defined]
