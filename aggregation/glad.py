r"""GLAD: worker ability × task difficulty (Whitehill et al., NIPS 2009)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ._base import Aggregator, argmax_labels, log_normalize
from .encoding import Answers, GoldLike, gold_arrays

__all__ = ["GLAD"]


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


class GLAD(Aggregator):
    r"""GLAD: each answer is right with a probability set by the worker's ability and the
    task's difficulty.

    Model: worker :math:`w` has ability :math:`a_w \in \mathbb{R}`, task :math:`t` has
    inverse difficulty :math:`b_t = e^{\beta_t} > 0`, and with :math:`x_a = a_{w_a} b_{t_a}`

    .. math:: P(l_a = z_{t_a}) = \sigma(x_a), \qquad
              P(l_a = l) = \frac{1 - \sigma(x_a)}{K - 1} \text{ for each } l \ne z_{t_a}.

    Priors: :math:`a_w \sim N(1, 1/\lambda)`, :math:`\beta_t \sim N(0, 1/\lambda)` with
    ``lambda = regularization``; the class prior has one pseudo-count per class.

    EM from the soft majority vote:

    * **E-step**: :math:`\log q_t(k) = \log\pi_k + \sum_{a: t_a=t}\bigl([l_a = k]\log\sigma(x_a)
      + [l_a \ne k]\log\frac{1-\sigma(x_a)}{K-1}\bigr) - \log Z_t` (two ``np.bincount`` calls);
      gold tasks are clamped.
    * **M-step**: with :math:`p_a = q_{t_a}(l_a)`, maximize
      :math:`\sum_a p_a\log\sigma(x_a) + (1-p_a)\log(1-\sigma(x_a))` plus the log priors over
      :math:`(a, \beta)` by L-BFGS (at most ``m_step_iter`` iterations, warm-started); the
      gradient :math:`\partial/\partial x_a = p_a - \sigma(x_a)` is chained to
      :math:`a_w` (times :math:`b_t`) and :math:`\beta_t` (times :math:`x_a`) by ``np.bincount``.

    Stops when the log-likelihood :math:`\sum_t \log Z_t` per answer changes by less than
    ``tol``, or after ``n_iter`` iterations.

    Attributes
    ----------
    labels_, proba_, class_prior_, n_iter_, log_likelihood_
        As in :class:`~aggregation.DawidSkene`.
    abilities_ : ndarray, shape (W,)
        :math:`a_w`.
    difficulties_ : ndarray, shape (T,)
        :math:`b_t` (larger is easier).
    skills_ : ndarray, shape (W,)
        :math:`\sigma(a_w)`: the chance of a right answer on a task with :math:`b_t = 1`.
    """

    _param_names = ("n_iter", "tol", "m_step_iter", "regularization")

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-6,
        m_step_iter: int = 25,
        regularization: float = 1.0,
    ) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_iter = m_step_iter
        self.regularization = regularization

    def _e_step(
        self,
        answers: Answers,
        x: np.ndarray,
        class_prior: np.ndarray,
        gold_t: np.ndarray,
        gold_l: np.ndarray,
    ) -> tuple[np.ndarray, float]:
        k, n_tasks = answers.n_labels, answers.n_tasks
        log_right = _log_sigmoid(x)
        log_wrong = _log_sigmoid(-x) - np.log(max(k - 1, 1))
        base = np.bincount(answers.task, weights=log_wrong, minlength=n_tasks)
        flat = answers.task.astype(np.int64) * k + answers.label
        bonus = np.bincount(flat, weights=log_right - log_wrong, minlength=n_tasks * k)
        log_joint = base[:, None] + bonus.reshape(n_tasks, k) + np.log(class_prior)
        q, log_z = log_normalize(log_joint)
        if gold_t.size:
            log_z[gold_t] = log_joint[gold_t, gold_l]
            q[gold_t] = 0.0
            q[gold_t, gold_l] = 1.0
        return q, float(log_z.sum())

    def _m_step(self, answers: Answers, q: np.ndarray, theta: np.ndarray) -> np.ndarray:
        n_workers, n_tasks = answers.n_workers, answers.n_tasks
        w, t = answers.worker, answers.task
        p = q[t, answers.label]
        lam = self.regularization

        def negative_q(params: np.ndarray) -> tuple[float, np.ndarray]:
            a, beta = params[:n_workers], params[n_workers:]
            b = np.exp(beta)
            x = a[w] * b[t]
            value = np.sum(p * _log_sigmoid(x) + (1 - p) * _log_sigmoid(-x))
            value -= 0.5 * lam * (np.sum((a - 1.0) ** 2) + np.sum(beta**2))
            g = p - np.exp(_log_sigmoid(x))  # dQ/dx
            grad_a = np.bincount(w, weights=g * b[t], minlength=n_workers) - lam * (a - 1.0)
            grad_beta = np.bincount(t, weights=g * x, minlength=n_tasks) - lam * beta
            return -value, -np.concatenate([grad_a, grad_beta])

        result = minimize(
            negative_q, theta, jac=True, method="L-BFGS-B", options={"maxiter": self.m_step_iter}
        )
        return result.x

    def fit(self, answers: Answers, gold: GoldLike | None = None) -> GLAD:
        """Fit by EM; ``gold`` as in :meth:`DawidSkene.fit` (clamped known labels)."""
        k, n_workers = answers.n_labels, answers.n_workers
        gold_t, gold_l = gold_arrays(gold, answers.n_tasks, k)
        votes = answers.vote_count
        totals = votes.sum(axis=1, keepdims=True)
        q = np.divide(votes, totals, out=np.full_like(votes, 1.0 / max(k, 1)), where=totals > 0)
        if gold_t.size:
            q[gold_t] = 0.0
            q[gold_t, gold_l] = 1.0
        theta = np.concatenate([np.ones(n_workers), np.zeros(answers.n_tasks)])
        n = max(answers.n_answers, 1)
        previous, log_lik, n_done = -np.inf, -np.inf, 0
        for n_done in range(1, self.n_iter + 1):  # noqa: B007 - read after the loop
            theta = self._m_step(answers, q, theta)
            class_prior = (q.sum(axis=0) + 1.0) / (answers.n_tasks + k)
            x = theta[:n_workers][answers.worker] * np.exp(theta[n_workers:])[answers.task]
            q, log_lik = self._e_step(answers, x, class_prior, gold_t, gold_l)
            if abs(log_lik / n - previous) < self.tol:
                break
            previous = log_lik / n
        self.proba_ = q
        self.labels_ = argmax_labels(q)
        self.abilities_ = theta[:n_workers]
        self.difficulties_ = np.exp(theta[n_workers:])
        self.skills_ = 1.0 / (1.0 + np.exp(-self.abilities_))
        self.class_prior_ = (q.sum(axis=0) + 1.0) / (answers.n_tasks + k)
        self.n_iter_ = n_done
        self.log_likelihood_ = log_lik
        return self
