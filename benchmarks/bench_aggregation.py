"""Accuracy and speed of the aggregation engine, with crowd-kit's figures measured in the same run.

    .venv/bin/python benchmarks/bench_aggregation.py [--crowdkit-python /tmp/ckvenv/bin/python]
                                                     [--quick] > report.md

Progress goes to stderr; stdout is markdown to paste into docs/aggregation.md.

crowd-kit is the reference, not a dependency. It runs in whichever interpreter has it: this
one if ``import crowdkit`` works, else the one given by ``--crowdkit-python`` (or the
``CROWDKIT_PYTHON`` environment variable); without it the report shows our figures only and
says crowd-kit is missing. The crowd-kit side runs this same file with ``--crowdkit-worker``.

Sections:
1. accuracy and fit time of every method on every shared dataset (benchmarks/data/);
2. the default method with 10% of tasks' gold labels clamped (accuracy on the other 90%);
3. Dawid-Skene EM iteration time on 1,000,000 synthetic answers (200,000 tasks, 1,000
   workers, 5 answers a task, K = 2 and 5): per-iteration time is (t(n2) - t(n1)) / (n2 - n1)
   of two fits with fixed iteration counts, so setup is excluded for both libraries; labels
   are compared after the same number of iterations;
4. peak memory of a whole fit to convergence, measured in a fresh subprocess (tracemalloc peak
   of the fit, and the growth of the process's maximum resident set);
5. GLAD on 100,000 synthetic answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DATASETS = ("bluebirds", "rte", "dog", "web", "product", "sentiment_polarity", "music_genre")
CK_METHODS = ("MV", "Wawa", "ZBS", "DS", "OneCoinDS", "GLAD", "MMSR", "MACE")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_csv(path: Path) -> dict[str, list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [r[key] for r in rows] for key in rows[0]}


def synthetic(n_tasks: int, n_workers: int, per_task: int, k: int, seed: int = 0):
    """One-coin workers with accuracies in [0.55, 0.95]; ``per_task`` random workers a task."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    acc = rng.uniform(0.55, 0.95, n_workers)
    task = np.repeat(np.arange(n_tasks), per_task)
    # Distinct workers per task: a random offset plus a stride keeps them apart.
    start = rng.integers(0, n_workers, n_tasks)
    worker = (start[:, None] + np.arange(per_task) * 7) % n_workers
    worker = worker.ravel()
    right = rng.random(task.size) < acc[worker]
    wrong = (truth[task] + rng.integers(1, k, task.size)) % k
    label = np.where(right, truth[task], wrong)
    return task.astype(np.int32), worker.astype(np.int32), label.astype(np.int32), truth


# ----------------------------------------------------------------------------- crowd-kit side
def crowdkit_worker(spec_path: str) -> None:
    """Run crowd-kit as the spec says and print JSON (executed by crowd-kit's interpreter)."""
    import warnings

    import pandas as pd
    from crowdkit import aggregation as ck

    warnings.filterwarnings("ignore")
    spec = json.loads(Path(spec_path).read_text())
    out: dict = {"version": __import__("crowdkit").__version__}
    if spec["kind"] == "accuracy":
        makers = {
            "MV": ck.MajorityVote,
            "Wawa": ck.Wawa,
            "ZBS": ck.ZeroBasedSkill,
            "DS": ck.DawidSkene,
            "OneCoinDS": ck.OneCoinDawidSkene,
            "GLAD": ck.GLAD,
            "MMSR": ck.MMSR,
            "MACE": ck.MACE,
        }
        df = pd.read_csv(spec["answers"], dtype=str)
        gold = pd.read_csv(spec["gold"], dtype=str).set_index("task")["label"]
        for name in spec["methods"]:
            start = time.perf_counter()
            try:
                labels = makers[name]().fit_predict(df)
                acc = float((labels.reindex(gold.index) == gold).mean())
            except Exception as exc:  # a crowd-kit method failing is a result too
                acc = None
                out.setdefault("errors", {})[name] = repr(exc)[:160]
            out[name] = {"accuracy": acc, "seconds": time.perf_counter() - start}
    elif spec["kind"] == "speed":
        z = np.load(spec["data"])
        df = pd.DataFrame({"task": z["task"], "worker": z["worker"], "label": z["label"]})
        times = {}
        for n in spec["iters"]:
            start = time.perf_counter()
            model = ck.DawidSkene(n_iter=n, tol=-np.inf).fit(df)
            times[n] = time.perf_counter() - start
        labels = model.labels_.sort_index()
        out["times"] = times
        np.save(spec["labels_out"], labels.to_numpy(dtype=np.int64))
    print(json.dumps(out))


class CrowdKit:
    def __init__(self, python: str | None) -> None:
        self.python = python
        self.version: str | None = None

    @classmethod
    def find(cls, given: str | None) -> CrowdKit:
        try:
            import crowdkit  # noqa: F401

            return cls(sys.executable)
        except ImportError:
            pass
        python = given or os.environ.get("CROWDKIT_PYTHON")
        if python and shutil.which(python):
            ok = (
                subprocess.run([python, "-c", "import crowdkit"], capture_output=True).returncode
                == 0
            )
            if ok:
                return cls(python)
        return cls(None)

    @property
    def available(self) -> bool:
        return self.python is not None

    def run(self, spec: dict) -> dict:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(spec, handle)
        try:
            result = subprocess.run(
                [self.python, __file__, "--crowdkit-worker", handle.name],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            os.unlink(handle.name)
        out = json.loads(result.stdout.strip().splitlines()[-1])
        self.version = out.get("version")
        return out


# ----------------------------------------------------------------------------- our side
def accuracy_section(ck: CrowdKit, quick: bool) -> list[str]:
    from aggregation import DEFAULT_METHOD, encode, make_estimator

    ours = {
        "default": (DEFAULT_METHOD, {}),
        "ds full": ("ds", {"structure": "full"}),
        "ds prior=0": ("ds", {"prior": 0, "structure": "full"}),
        "ods": ("ods", {}),
        "glad": ("glad", {}),
        "wmv": ("wmv", {}),
        "mv": ("mv", {}),
    }
    rows, results = [], {}
    for name in DATASETS:
        log(f"[accuracy] {name}: ours")
        a = read_csv(DATA / name / "answers.csv")
        g = read_csv(DATA / name / "gold.csv")
        answers = encode(a["task"], a["worker"], a["label"])
        gt, gl = answers.encode_gold(g["task"], g["label"])
        res: dict = {}
        for col, (method, params) in ours.items():
            start = time.perf_counter()
            model = make_estimator(method, **params).fit(answers)
            res[col] = ((model.labels_[gt] == gl).mean(), time.perf_counter() - start)
            if col == "default":
                scores = getattr(model, "heldout_loglik_", None) or {}
                res["structure"] = getattr(model, "structure_", "–") + (
                    " (" + ", ".join(f"{v:.3f}" for v in scores.values()) + ")" if scores else ""
                )
        # 10% of the gold tasks clamped, accuracy on the other 90% (same seed everywhere).
        rng = np.random.default_rng(0)
        pick = rng.random(len(gt)) < 0.10
        model = make_estimator(DEFAULT_METHOD).fit(answers, gold=(gt[pick], gl[pick]))
        res["clamped"] = (model.labels_[gt[~pick]] == gl[~pick]).mean()
        res["unclamped_90"] = (
            make_estimator(DEFAULT_METHOD).fit(answers).labels_[gt[~pick]] == gl[~pick]
        ).mean()
        if ck.available:
            methods = [m for m in CK_METHODS if not (quick and m in ("GLAD", "MACE", "MMSR"))]
            log(f"[accuracy] {name}: crowd-kit {', '.join(methods)}")
            spec = {
                "kind": "accuracy",
                "answers": str(DATA / name / "answers.csv"),
                "gold": str(DATA / name / "gold.csv"),
                "methods": methods,
            }
            res["ck"] = ck.run(spec)
        results[name] = res

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.2f}"

    head = "| dataset | **ours: default (ds)** | structure chosen | ours: ds full | ours: ds prior=0 | ours: ods | ours: glad | ours: wmv | ours: mv |"
    sep = "|---|---|---|---|---|---|---|---|---|"
    if ck.available:
        head += " crowd-kit DS | crowd-kit best (method) | default − ck DS |"
        sep += "---|---|---|"
    rows += [head, sep]
    cols = ["default", "ds full", "ds prior=0", "ods", "glad", "wmv", "mv"]
    means = {c: [] for c in cols}
    ck_ds, ck_best = [], []
    for name in DATASETS:
        res = results[name]
        cells = [f"**{pct(res['default'][0])}** ({res['default'][1]:.2f} s)", res["structure"]]
        cells += [f"{pct(res[c][0])} ({res[c][1]:.2f} s)" for c in cols[1:]]
        for c in cols:
            means[c].append(res[c][0])
        line = f"| {name} | " + " | ".join(cells) + " |"
        if ck.available:
            ckr = res["ck"]
            ds = ckr["DS"]["accuracy"]
            scored = [
                (v["accuracy"], m)
                for m, v in ckr.items()
                if isinstance(v, dict) and v.get("accuracy") is not None
            ]
            best_acc, best_m = max(scored)
            ck_ds.append(ds)
            ck_best.append(best_acc)
            line += f" {pct(ds)} ({ckr['DS']['seconds']:.2f} s) | {pct(best_acc)} ({best_m}, {ckr[best_m]['seconds']:.2f} s) |"
            line += f" {100 * (res['default'][0] - ds):+.2f} |"
        rows.append(line)
    mean_cells = [f"**{pct(np.mean(means['default']))}**", ""]
    mean_cells += [pct(np.mean(means[c])) for c in cols[1:]]
    mean_line = "| **mean** | " + " | ".join(mean_cells) + " |"
    if ck.available:
        mean_line += f" {pct(np.mean(ck_ds))} | {pct(np.mean(ck_best))} | {100 * (np.mean(means['default']) - np.mean(ck_ds)):+.2f} |"
    rows.append(mean_line)
    if ck.available:
        rows.append("")
        rows.append(
            f"crowd-kit {ck.version}, all methods with their defaults; accuracy of every crowd-kit method:"
        )
        rows.append("")
        rows.append("| dataset | " + " | ".join(CK_METHODS) + " |")
        rows.append("|---|" + "---|" * len(CK_METHODS))
        for name in DATASETS:
            ckr = results[name]["ck"]
            rows.append(
                f"| {name} | "
                + " | ".join(pct(ckr[m]["accuracy"]) if m in ckr else "–" for m in CK_METHODS)
                + " |"
            )
    else:
        rows.append("")
        rows.append(
            "crowd-kit is missing (not importable here and no --crowdkit-python): ours only."
        )
    rows.append("")
    rows.append(
        "### Default method with 10% of the tasks' gold labels clamped (accuracy on the other 90%)"
    )
    rows.append("")
    rows.append("| dataset | no gold clamped | 10% gold clamped |")
    rows.append("|---|---|---|")
    for name in DATASETS:
        rows.append(
            f"| {name} | {pct(results[name]['unclamped_90'])} | {pct(results[name]['clamped'])} |"
        )
    rows.append(
        f"| **mean** | {pct(np.mean([results[n]['unclamped_90'] for n in DATASETS]))} | "
        f"{pct(np.mean([results[n]['clamped'] for n in DATASETS]))} |"
    )
    return rows


def time_fit(model_factory, answers, n_iters: tuple[int, int], repeat: int = 3) -> float:
    """Seconds per EM iteration: best of ``repeat`` of (t(n2) - t(n1)) / (n2 - n1)."""
    best = np.inf
    for _ in range(repeat):
        ts = []
        for n in n_iters:
            model = model_factory(n)
            start = time.perf_counter()
            model.fit(answers)
            ts.append(time.perf_counter() - start)
        best = min(best, (ts[1] - ts[0]) / (n_iters[1] - n_iters[0]))
    return best


MEMORY_CODE = """
import resource, sys, time, tracemalloc, json
import numpy as np
sys.path.insert(0, {root!r})
from aggregation import Answers, DawidSkene
z = np.load({data!r})
answers = Answers.from_codes(z["task"], z["worker"], z["label"])
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
start = time.perf_counter()
model = DawidSkene(**{params!r}).fit(answers)
seconds = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_mb": peak / 2**20, "rss_growth_mb": (rss - base_rss) / 1024, "n_iter": model.n_iter_, "seconds": seconds, "structure": model.structure_}}))
"""


def speed_section(ck: CrowdKit, quick: bool) -> list[str]:
    from aggregation import GLAD, Answers, DawidSkene

    rows = [
        "| K | ours: ms / iteration (ds prior=0) | ours: ms / iteration (ds full, empirical prior) | crowd-kit DS: ms / iteration | speed-up | labels identical |"
    ]
    rows.append("|---|---|---|---|---|---|")
    mem_rows = [
        "| K | fit | EM iterations | seconds | tracemalloc peak (MB) | max RSS growth (MB) |",
        "|---|---|---|---|---|---|",
    ]
    n_tasks = 40_000 if quick else 200_000
    n_workers = 1_000
    tmp = Path(tempfile.mkdtemp(prefix="bench_agg_"))
    try:
        for k in (2, 5):
            log(f"[speed] K={k}: synthetic {n_tasks * 5:,} answers")
            task, worker, label, _ = synthetic(n_tasks, n_workers, 5, k, seed=k)
            data = tmp / f"k{k}.npz"
            np.savez(data, task=task, worker=worker, label=label)
            answers = Answers.from_codes(task, worker, label)
            answers.by_task  # noqa: B018 - built once per Answers, as in a fit
            plain = time_fit(
                lambda n: DawidSkene(prior=0, structure="full", tol=-np.inf, n_iter=n),
                answers,
                (5, 25),
            )
            default = time_fit(
                lambda n: DawidSkene(structure="full", tol=-np.inf, n_iter=n), answers, (5, 25)
            )
            ck_cell, speedup, same = "–", "–", "–"
            if ck.available:
                log(f"[speed] K={k}: crowd-kit DS")
                n_cmp = 8
                out = ck.run(
                    {
                        "kind": "speed",
                        "data": str(data),
                        "iters": [3, n_cmp],
                        "labels_out": str(tmp / "ck.npy"),
                    }
                )
                t = {int(a): b for a, b in out["times"].items()}
                ck_iter = (t[n_cmp] - t[3]) / (n_cmp - 3)
                ours_labels = (
                    DawidSkene(prior=0, structure="full", tol=-np.inf, n_iter=n_cmp)
                    .fit(answers)
                    .labels_
                )
                ck_labels = np.load(tmp / "ck.npy")  # tasks 0..T-1 in order
                same = (
                    "yes"
                    if np.array_equal(ours_labels, ck_labels)
                    else f"no ({np.mean(ours_labels != ck_labels):.2e} differ)"
                )
                ck_cell = f"{1e3 * ck_iter:.0f}"
                speedup = f"{ck_iter / plain:.0f}×"
            rows.append(
                f"| {k} | {1e3 * plain:.1f} | {1e3 * default:.1f} | {ck_cell} | {speedup} | {same} |"
            )
            for label_, params in (
                ("ds prior=0", {"prior": 0, "structure": "full"}),
                ("default ds (structure chosen by 5-fold CV, then refit)", {}),
            ):
                log(f"[memory] K={k}: {label_} to convergence in a subprocess")
                code = MEMORY_CODE.format(root=str(ROOT), data=str(data), params=params)
                res = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                )
                m = json.loads(res.stdout.strip().splitlines()[-1])
                mem_rows.append(
                    f"| {k} | {label_}: {m['structure']} | {m['n_iter']} | {m['seconds']:.2f} | {m['peak_mb']:.0f} | {m['rss_growth_mb']:.0f} |"
                )
        n_glad = 20_000 if quick else 100_000
        log(f"[speed] GLAD on {n_glad:,} answers")
        task, worker, label, truth = synthetic(n_glad // 5, 200, 5, 2, seed=7)
        answers = Answers.from_codes(task, worker, label)
        start = time.perf_counter()
        glad = GLAD().fit(answers)
        glad_s = time.perf_counter() - start
        glad_line = (
            f"GLAD on {n_glad:,} synthetic answers ({n_glad // 5:,} tasks, 200 workers, K = 2): "
            f"{glad_s:.1f} s, {glad.n_iter_} EM iterations, accuracy {100 * np.mean(glad.labels_ == truth):.2f}%."
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = [
        f"Synthetic: {n_tasks:,} tasks × 5 answers = {5 * n_tasks:,} answers, {n_workers:,} workers "
        "(one-coin, accuracy uniform in [0.55, 0.95]).",
        "",
    ]
    return (
        header
        + rows
        + ["", "Peak memory of a whole fit (fresh subprocess, answers already coded):", ""]
        + mem_rows
        + ["", glad_line]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowdkit-python", help="an interpreter that can import crowdkit")
    parser.add_argument(
        "--quick", action="store_true", help="smaller synthetic data, no slow crowd-kit methods"
    )
    parser.add_argument("--crowdkit-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.crowdkit_worker:
        crowdkit_worker(args.crowdkit_worker)
        return 0
    sys.path.insert(0, str(ROOT))
    ck = CrowdKit.find(args.crowdkit_python)
    log("crowd-kit: " + (f"using {ck.python}" if ck.available else "missing, ours only"))
    import platform

    started = time.perf_counter()
    out = ["## Accuracy on the shared datasets (% of gold tasks; fit time in parentheses)", ""]
    out += accuracy_section(ck, args.quick)
    out += ["", "## Speed and memory", ""]
    out += speed_section(ck, args.quick)
    out += [
        "",
        f"Measured by `benchmarks/bench_aggregation.py` on {platform.machine()} × {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
        + (f", crowd-kit {ck.version}" if ck.version else "")
        + f"; whole run {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
