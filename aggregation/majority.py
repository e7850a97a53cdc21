r"""Majority vote and weighted majority vote."""

from __future__ import annotations

import numpy as np

from ._base import Aggregator, argmax_labels
from .encoding import Answers, GoldLike, gold_arrays

__all__ = ["MajorityVote", "WeightedMajorityVote"]


def _weighted_votes(answers: Answers, weights: np.ndarray) -> np.ndarray:
    """``V[t, l] = Σ_{a: t_a = t, l_a = l} weight[w_a]`` by one ``np.bincount``."""
    k = answers.n_labels
    flat = answers.task.astype(np.int64) * k + answers.label
    v = np.bincount(flat, weights=weights[answers.worker], minlength=answers.n_tasks * k)
    return v.reshape(answers.n_tasks, k)


def _shares(votes: np.ndarray) -> np.ndarray:
    """Rows normalized to sum to one; a task with no (positive) vote gets the uniform row."""
    totals = votes.sum(axis=1, keepdims=True)
    k = votes.shape[1]
    return np.divide(votes, totals, out=np.full_like(votes, 1.0 / max(k, 1)), where=totals > 0)


def _agreement_skills(
    answers: Answers, labels: np.ndarray, pseudo: float, chance: float
) -> np.ndarray:
    r"""Smoothed share of a worker's answers equal to ``labels[task]``:
    :math:`(\text{agree}_w + p\,c)/(n_w + p)` with ``p`` pseudo-answers at chance ``c``."""
    agree = np.bincount(
        answers.worker, weights=answers.label == labels[answers.task], minlength=answers.n_workers
    )
    n_w = np.bincount(answers.worker, minlength=answers.n_workers)
    total = n_w + pseudo
    return np.divide(agree + pseudo * chance, total, out=np.full(len(n_w), chance), where=total > 0)


class MajorityVote(Aggregator):
    r"""Majority vote: each task gets the label most of its answers gave.

    ``proba_[t, l]`` is the share of task :math:`t`'s answers that say :math:`l`. **Ties** go to
    the label with the smallest code, i.e. the first in ``label_order`` (sorted order by
    default), which makes the result deterministic (crowd-kit's ``MajorityVote`` does the same).
    Gold tasks, when given, are clamped to their label.

    Attributes
    ----------
    labels_ : ndarray of int32, shape (T,)
    proba_ : ndarray, shape (T, K)
    skills_ : ndarray, shape (W,)
        Share of each worker's answers that agree with the majority label.
    """

    _param_names = ()

    def fit(self, answers: Answers, gold: GoldLike | None = None) -> MajorityVote:
        gold_t, gold_l = gold_arrays(gold, answers.n_tasks, answers.n_labels)
        self.proba_ = _shares(answers.vote_count.copy())
        if gold_t.size:
            self.proba_[gold_t] = 0.0
            self.proba_[gold_t, gold_l] = 1.0
        self.labels_ = argmax_labels(self.proba_)
        self.skills_ = _agreement_skills(answers, self.labels_, 0.0, 0.0)
        return self


class WeightedMajorityVote(Aggregator):
    r"""Majority vote where each worker's vote counts with a weight derived from their skill.

    Skills :math:`s_w` are either given (``skills``, indexed by worker code, e.g. a Dawid-Skene
    fit's ``skills_``) or estimated as each worker's agreement with the plain majority vote,
    smoothed by ``pseudo_answers`` answers at chance level :math:`1/K`:
    :math:`s_w = (\text{agree}_w + p/K)/(n_w + p)`. A worker's weight is the log-odds of being
    right against one given wrong label, the optimal weight for workers who err uniformly
    (one-coin model):

    .. math:: v_w = \max\Bigl(0,\ \log \frac{(K-1)\,s_w}{1 - s_w}\Bigr),

    so a worker at or below chance gets no say. ``proba_`` holds the normalized weighted votes;
    ties go to the smallest label code; a task where every voter has weight 0 falls back to
    the plain vote shares.

    Parameters
    ----------
    skills : array-like of shape (W,), optional
    pseudo_answers : float, default 2.0
    """

    _param_names = ("skills", "pseudo_answers")

    def __init__(self, skills: np.ndarray | None = None, pseudo_answers: float = 2.0) -> None:
        self.skills = skills
        self.pseudo_answers = pseudo_answers

    def fit(self, answers: Answers, gold: GoldLike | None = None) -> WeightedMajorityVote:
        k = answers.n_labels
        gold_t, gold_l = gold_arrays(gold, answers.n_tasks, k)
        if self.skills is None:
            mv = MajorityVote().fit(answers, gold=gold)
            skills = _agreement_skills(answers, mv.labels_, self.pseudo_answers, 1.0 / max(k, 1))
        else:
            skills = np.asarray(self.skills, dtype=np.float64)
            if skills.shape != (answers.n_workers,):
                raise ValueError(f"skills must have shape ({answers.n_workers},)")
        s = np.clip(skills, 1e-6, 1 - 1e-6)
        weights = np.maximum(0.0, np.log(max(k - 1, 1) * s / (1 - s)))
        votes = _weighted_votes(answers, weights)
        empty = votes.sum(axis=1) <= 0
        votes[empty] = answers.vote_count[empty]
        self.proba_ = _shares(votes)
        if gold_t.size:
            self.proba_[gold_t] = 0.0
            self.proba_[gold_t, gold_l] = 1.0
        self.labels_ = argmax_labels(self.proba_)
        self.skills_ = skills
        self.weights_ = weights
        return self
