"""Agreement with crowd-kit (the reference), from outputs frozen by freeze_crowdkit.py."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from aggregation import DawidSkene, OneCoinDawidSkene, encode

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "benchmarks" / "data"
FROZEN = HERE / "data" / "crowdkit_frozen.npz"
DATASETS = ("bluebirds", "rte", "dog", "web", "product", "sentiment_polarity", "music_genre")


def load_answers(name: str):
    with open(DATA / name / "answers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return encode(
        [r["task"] for r in rows], [r["worker"] for r in rows], [r["label"] for r in rows]
    )


@pytest.fixture(scope="module")
def frozen():
    with np.load(FROZEN) as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.mark.parametrize("name", DATASETS)
def test_plain_dawid_skene_matches_crowdkit_at_a_fixed_iteration_count(name, frozen):
    answers = load_answers(name)
    n_iter = int(frozen["fixed_iter"])
    assert answers.task_ids.tolist() == frozen[f"{name}/task_ids"].tolist()
    assert answers.label_ids.tolist() == frozen[f"{name}/label_ids"].tolist()
    for key, model in (
        ("ds", DawidSkene(prior=0, structure="full", tol=-np.inf, n_iter=n_iter)),
        ("ods", OneCoinDawidSkene(prior=0, tol=-np.inf, n_iter=n_iter)),
    ):
        model.fit(answers)
        assert model.n_iter_ == n_iter == int(frozen[f"{name}/{key}_n_iter"])
        np.testing.assert_allclose(model.proba_, frozen[f"{name}/{key}_proba"], rtol=0, atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("crowdkit") is None, reason="crowd-kit not installed")
def test_frozen_outputs_are_what_crowdkit_computes_today(frozen):
    pytest.importorskip("crowdkit")
    import sys

    sys.path.insert(0, str(HERE))
    try:
        from freeze_crowdkit import frozen_outputs
    finally:
        sys.path.remove(str(HERE))
    fresh = frozen_outputs("dog")
    for key, value in fresh.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, frozen[key], atol=1e-9)
        else:
            assert value.tolist() == frozen[key].tolist()
