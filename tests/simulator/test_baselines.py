"""The offline baselines of the cost benchmark are scored like a simulation with the same gold split."""

import numpy as np

from simulator.baselines import accuracy_of, fixed_overlap
from simulator.data import Dataset, seeded_gold_split


def crowd_of_two_liars(n_tasks: int = 20) -> Dataset:
    """One truthful worker and two who always give the other label."""
    tasks = [f"t{i}" for i in range(n_tasks)]
    gold = {t: ("yes" if i % 2 else "no") for i, t in enumerate(tasks)}
    other = {"yes": "no", "no": "yes"}
    answers = [
        (t, worker, gold[t] if worker == "honest" else other[gold[t]])
        for t in tasks
        for worker in ("honest", "liar1", "liar2")
    ]
    return Dataset("liars", ["no", "yes"], tasks, answers, gold)


def test_given_gold_teaches_dawid_skene_and_only_hidden_gold_scores():
    data = crowd_of_two_liars()
    everything = np.arange(len(data.answers))
    given = {"t0", "t1", "t2", "t3"}
    split = (given, set(data.gold) - given)
    # Without gold the two liars agreeing look like the truth; with four known labels Dawid-Skene
    # learns that they always flip, and every hidden task is right. Majority vote cannot learn it.
    assert accuracy_of(data, everything, "ds") == 0.0
    assert accuracy_of(data, everything, "ds", split) == 1.0
    assert accuracy_of(data, everything, "mv", split) == 0.0


def test_a_baseline_is_scored_on_the_hidden_gold_only():
    data = crowd_of_two_liars()
    data.answers = [a if a[0] != "t5" else (a[0], a[1], data.gold["t5"]) for a in data.answers]
    everything = np.arange(len(data.answers))
    assert accuracy_of(data, everything, "mv", ({"t4"}, {"t5"})) == 1.0  # only t5 is right
    assert accuracy_of(data, everything, "mv", ({"t5"}, {"t4", "t6"})) == 0.0


def test_fixed_overlap_scores_each_draw_with_its_runs_split():
    data = crowd_of_two_liars(40)
    splits = [seeded_gold_split(data, 0.25, s)[:2] for s in range(3)]
    assert all(len(given) == 10 and len(hidden) == 30 for given, hidden in splits)
    accuracy, answers = fixed_overlap(data, 3, "ds", seeds=3, splits=splits)
    assert (accuracy, answers) == (1.0, 120.0)
    assert fixed_overlap(data, 3, "ds", seeds=3) == (0.0, 120.0)
