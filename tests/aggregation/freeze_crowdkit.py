"""Regenerate tests/aggregation/data/crowdkit_frozen.npz from crowd-kit (the reference).

crowd-kit is not a dependency of the project (it is heavy and parts of it break on
scikit-learn >= 1.8). Run this script in a throwaway virtualenv that has it:

    python3 -m venv /tmp/ckvenv
    /tmp/ckvenv/bin/pip install crowd-kit 'scikit-learn<1.8'
    /tmp/ckvenv/bin/python tests/aggregation/freeze_crowdkit.py

For every shared dataset (benchmarks/data/<name>/answers.csv) it stores, with the task and label
ids they refer to:

* ``<name>/ds_proba``: crowd-kit ``DawidSkene(n_iter=FIXED_ITER, tol=-inf)`` posteriors. crowd-kit
  1.4.2 stops on a change of an objective that is not the EM log-likelihood, so the comparison
  runs a fixed number of iterations;
* ``<name>/ods_proba``: the same for ``OneCoinDawidSkene``;
* ``<name>/ds_default_labels``: labels of crowd-kit's ``DawidSkene()`` with its defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FIXED_ITER = 50
DATASETS = ("bluebirds", "rte", "dog", "web", "product", "sentiment_polarity", "music_genre")
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data"
OUT = Path(__file__).resolve().parent / "data" / "crowdkit_frozen.npz"


def frozen_outputs(name: str) -> dict[str, np.ndarray]:
    """crowd-kit's outputs on one dataset, as arrays keyed ``<name>/<what>``."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, OneCoinDawidSkene

    df = pd.read_csv(DATA / name / "answers.csv", dtype=str)
    out: dict[str, np.ndarray] = {}
    ds = DawidSkene(n_iter=FIXED_ITER, tol=-np.inf).fit(df)
    ods = OneCoinDawidSkene(n_iter=FIXED_ITER, tol=-np.inf).fit(df)
    for key, model in (("ds", ds), ("ods", ods)):
        proba = model.probas_.sort_index().sort_index(axis=1)
        out[f"{name}/{key}_proba"] = proba.to_numpy(dtype=np.float64)
        out[f"{name}/{key}_n_iter"] = np.array(len(model.loss_history_))
    out[f"{name}/task_ids"] = proba.index.to_numpy(dtype=str)
    out[f"{name}/label_ids"] = proba.columns.to_numpy(dtype=str)
    default = DawidSkene().fit(df).labels_.sort_index()
    out[f"{name}/ds_default_labels"] = default.reindex(proba.index).to_numpy(dtype=str)
    return out


def main() -> int:
    import crowdkit

    arrays: dict[str, np.ndarray] = {"crowdkit_version": np.array(crowdkit.__version__)}
    arrays["fixed_iter"] = np.array(FIXED_ITER)
    for name in DATASETS:
        print(f"crowd-kit on {name} ...", file=sys.stderr)
        arrays.update(frozen_outputs(name))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
