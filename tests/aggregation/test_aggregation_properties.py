"""Properties that hold for any answers (hypothesis, bounded number of examples)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aggregation import DEFAULT_METHOD, METHODS, Answers, DawidSkene, make_estimator

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def answer_sets(draw):
    k = draw(st.integers(2, 4))
    n_tasks = draw(st.integers(1, 12))
    n_workers = draw(st.integers(1, 6))
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    task = np.r_[np.arange(n_tasks), rng.integers(0, n_tasks, n)]  # every task answered
    worker = rng.integers(0, n_workers, task.size)
    label = rng.integers(0, k, task.size)
    return Answers.from_codes(task, worker, label, n_workers=n_workers, n_labels=k), rng


def one_coin_crowd(seed: int, accuracies: list[float], k: int, n_tasks: int = 150):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    task = np.repeat(np.arange(n_tasks), len(accuracies))
    worker = np.tile(np.arange(len(accuracies)), n_tasks)
    right = rng.random(task.size) < np.asarray(accuracies)[worker]
    wrong = (truth[task] + rng.integers(1, k, task.size)) % k
    label = np.where(right, truth[task], wrong)
    return Answers.from_codes(task, worker, label, n_labels=k), truth


@SETTINGS
@given(data=answer_sets(), method=st.sampled_from(sorted(METHODS)))
def test_rows_of_proba_sum_to_one(data, method):
    answers, _ = data
    model = make_estimator(method).fit(answers)
    assert model.proba_.shape == (answers.n_tasks, answers.n_labels)
    assert np.all(np.isfinite(model.proba_)) and np.all(model.proba_ >= 0)
    np.testing.assert_allclose(model.proba_.sum(axis=1), 1.0, atol=1e-12)
    assert np.array_equal(model.labels_, model.proba_.argmax(axis=1))


@SETTINGS
@given(data=answer_sets(), method=st.sampled_from(["mv", "wmv", "ds", "ods"]))
def test_permuting_task_and_worker_ids_changes_nothing(data, method):
    answers, rng = data
    task_perm = rng.permutation(answers.n_tasks)
    worker_perm = rng.permutation(answers.n_workers)
    order = rng.permutation(answers.n_answers)  # and the order of the rows
    shuffled = Answers.from_codes(
        task_perm[answers.task][order],
        worker_perm[answers.worker][order],
        answers.label[order],
        n_tasks=answers.n_tasks,
        n_workers=answers.n_workers,
        n_labels=answers.n_labels,
    )
    params = {"tol": -np.inf, "n_iter": 20} if method in ("ds", "ods") else {}
    if method == "ds":
        # The default's cross-validation folds hash the codes, which this test permutes: fix
        # the structure here; test_row_order_never_changes_the_default covers "auto".
        params["structure"] = "full"
    a = make_estimator(method, **params).fit(answers)
    b = make_estimator(method, **params).fit(shuffled)
    np.testing.assert_allclose(b.proba_[task_perm], a.proba_, atol=1e-7)
    np.testing.assert_allclose(b.skills_[worker_perm], a.skills_, atol=1e-7)


@SETTINGS
@given(data=answer_sets())
def test_row_order_never_changes_the_default(data):
    answers, rng = data
    order = rng.permutation(answers.n_answers)
    shuffled = Answers.from_codes(
        answers.task[order],
        answers.worker[order],
        answers.label[order],
        n_tasks=answers.n_tasks,
        n_workers=answers.n_workers,
        n_labels=answers.n_labels,
    )
    a = make_estimator(DEFAULT_METHOD).fit(answers)
    b = make_estimator(DEFAULT_METHOD).fit(shuffled)
    assert a.structure_ == b.structure_
    np.testing.assert_allclose(b.proba_, a.proba_, atol=1e-7)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 5),
    n_workers=st.integers(1, 4),
    method=st.sampled_from(sorted(METHODS)),
)
# One worker and four labels: the crowd's prior, learned from that worker alone, let EM drift to
# a worker who tells nothing (every posterior uniform) before the prior needed a crowd.
@example(seed=229, k=4, n_workers=1, method="ds")
def test_perfect_workers_recover_the_truth(seed, k, n_workers, method):
    if method == "glad":
        # With a single voter GLAD is not identified: a task's difficulty can absorb the answer.
        n_workers = max(n_workers, 2)
    answers, truth = one_coin_crowd(seed, [1.0] * n_workers, k, n_tasks=40)
    assert np.array_equal(make_estimator(method).fit(answers).labels_, truth)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4))
def test_a_spammer_answering_at_random_gets_a_skill_near_chance(seed, k):
    # Four good workers (accuracy 0.85) and one who answers uniformly at random.
    answers, _ = one_coin_crowd(seed, [0.85] * 4 + [1.0 / k], k, n_tasks=600)
    # 600 answers: the spammer's estimated skill has a sampling error of about 0.02, so 0.07
    # is 3.5 of them (0.05 failed now and then, e.g. seed=418, k=3, before and after the
    # rewrite of the E-step).
    plain = DawidSkene(prior=0, structure="full").fit(answers)
    assert plain.skills_[4] == pytest.approx(1.0 / k, abs=0.07)
    # The default's empirical prior pulls every worker toward the crowd by
    # alpha / (answers + alpha); in a crowd of four near-identical good workers alpha is
    # large, so the spammer stays clearly apart from them but somewhat above chance.
    model = DawidSkene(structure="full").fit(answers)
    assert model.skills_[4] == pytest.approx(1.0 / k, abs=0.12)
    assert np.all(model.skills_[:4] > 0.75)
    assert model.skills_[4] < model.skills_[:4].min() - 0.25
    # These workers are one-coin, which the default's held-out likelihood should see.
    auto = DawidSkene().fit(answers)
    assert auto.skills_[4] == pytest.approx(1.0 / k, abs=0.07)
