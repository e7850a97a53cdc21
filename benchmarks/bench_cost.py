"""Cost of an accurate label: fixed overlap against the platform's dynamic policy, per dataset.

    python benchmarks/bench_cost.py                       # every dataset in benchmarks/data
    python benchmarks/bench_cost.py --datasets rte dog --jobs 2
    python benchmarks/bench_cost.py --gold-share 0        # no control questions at all

For each shared dataset (real crowd answers with gold):
- the platform's dynamic policy, replayed through the real services by ``manage.py simulate``
  (replayed workers; ``--gold-share`` of the gold labels given to the platform as control
  questions, default 0.1 as ``simulate``, the rest hidden and scoring), twice: with the budget
  of fixed overlap 3 (equal answers bought; the control questions' answers are paid from it)
  and with an unlimited budget at ``--target`` (default 0.95);
- fixed overlap N = 1 … the most answers any task has, N recorded answers per task drawn at random
  (mean of ``--seeds`` draws), aggregated by majority vote and by Dawid-Skene, and Dawid-Skene on
  every recorded answer (offline, ``simulator.baselines``), each scored like the simulations: on
  the same hidden gold, with the gold the simulations were given clamped (Dawid-Skene learns
  from it; majority vote cannot);
- where the dataset has item fields (``items.csv``), the dynamic policy at that target once more
  with the model on (``--model on``): the human-in-the-loop figures of docs/hitl.md.
Each simulation runs ``--runs`` times (seeds 0, 1, …: the replay's arrival order and breaks
change, and so does which gold labels are given); the tables show the mean, with the spread over
the seeds beside it; on a dataset of a hundred tasks one seed alone can be several points off.
The baselines' draw ``i`` is scored with run ``i``'s gold split. Each simulation runs in a
subprocess on a fresh SQLite database. Prints two Markdown tables (cost, and model on/off) and
writes a plot of accuracy against answers bought (``--plot``, default docs/cost.png).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from simulator.baselines import accuracy_of, fixed_overlap, max_overlap  # noqa: E402
from simulator.crowd import PRESENCES  # noqa: E402
from simulator.data import load_dataset, seeded_gold_split  # noqa: E402

DATASETS = ["bluebirds", "rte", "dog", "web", "product", "sentiment_polarity", "music_genre"]
REWARD = Decimal("0.05")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def migrated_database(folder: Path) -> Path:
    db = folder / "empty.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return db


def simulate(empty: Path, folder: Path, name: str, args: list[str]) -> dict:
    db = folder / f"{name}.sqlite3"
    shutil.copy(empty, db)
    out = folder / f"{name}.json"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "simulate", "--quiet", "--json", str(out), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode:  # say why, and let the other simulations finish
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    for leftover in folder.glob(f"{name}.sqlite3*"):
        leftover.unlink()
    report = json.loads(out.read_text())
    log(
        f"  {name}: {report['answers_bought']} answers, accuracy {report['accuracy']:.4f}, "
        f"{time.perf_counter() - started:.0f} s"
    )
    return report


def mean_report(reports: list[dict]) -> dict:
    """The seeds' runs of one simulation as one: the mean of what the tables show, and the runs."""
    acc = [r["accuracy"] for r in reports]
    return {
        "runs": reports,
        "answers_bought": float(np.mean([r["answers_bought"] for r in reports])),
        "accuracy": float(np.mean(acc)),
        "accuracy_low": min(acc),
        "accuracy_high": max(acc),
        "by_model": float(np.mean([r["final_by_source"].get("model", 0) for r in reports])),
        "model_share": float(np.mean([r["model_share"] for r in reports])),
        "versions": float(np.mean([len(r["model_versions"]) for r in reports])),
        "useful": float(
            np.mean([sum(v["is_useful"] for v in r["model_versions"]) for r in reports])
        ),
    }


def spread(rep: dict) -> str:
    if len(rep["runs"]) < 2:
        return ""
    return f" [{100 * rep['accuracy_low']:.1f}–{100 * rep['accuracy_high']:.1f}]"


def baselines(name: str, seeds: int, gold_share: float, runs: int) -> dict:
    """Fixed-overlap curves and the all-answers figures, scored with the runs' gold splits."""
    dataset = load_dataset(ROOT / "benchmarks" / "data" / name)
    splits = [seeded_gold_split(dataset, gold_share, s)[:2] for s in range(runs)]  # as simulate's
    top = max_overlap(dataset)
    curve = {"mv": [], "ds": []}
    previous = None
    for n in range(1, top + 1):
        mv, size = fixed_overlap(dataset, n, "mv", seeds, splits)
        ds, _ = fixed_overlap(dataset, n, "ds", seeds, splits)
        if previous is not None and size == previous:
            break  # every task already has all its answers
        previous = size
        curve["mv"].append((n, size, mv))
        curve["ds"].append((n, size, ds))
    everything = np.arange(len(dataset.answers))
    return {
        "name": name,
        "tasks": len(dataset.tasks),
        "recorded": len(dataset.answers),
        "curve": curve,
        "ds_all": float(np.mean([accuracy_of(dataset, everything, "ds", sp) for sp in splits])),
        "mv_all": float(np.mean([accuracy_of(dataset, everything, "mv", sp) for sp in splits])),
        "has_items": bool(dataset.items),
    }


def plot(results: list[dict], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    cols = 4
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results, strict=False):
        tasks = r["tasks"]
        for method, style in (("mv", "o-"), ("ds", "s-")):
            pts = r["curve"][method]
            ax.plot(
                [s / tasks for _, s, _ in pts],
                [100 * a for _, _, a in pts],
                style,
                ms=3,
                label=f"fixed overlap, {method.upper()}",
            )
        ax.axhline(100 * r["ds_all"], color="grey", ls="--", lw=1, label="DS, all answers")
        for key, marker, label in (
            ("equal", "*", "dynamic, budget of overlap 3"),
            ("free", "D", f"dynamic, target {r['target']:g}"),
            ("model", "P", f"dynamic + model, target {r['target']:g}"),
        ):
            rep = r["dynamic"].get(key)
            if rep:
                runs = len(rep["runs"])
                ax.plot(
                    rep["answers_bought"] / tasks,
                    100 * rep["accuracy"],
                    marker,
                    ms=11 if marker == "*" else 7,
                    label=label + (f" (mean of {runs} seeds)" if runs > 1 else ""),
                )
        ax.set_title(f"{r['name']} ({r['tasks']} tasks)")
        ax.set_xlabel("answers bought per task")
        ax.set_ylabel("accuracy on hidden gold (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    legend = {}  # every series of any panel, once (not every dataset has the model's runs)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower right", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(results: list[dict]) -> str:
    lines = [
        "| dataset | tasks | answers recorded | fixed 3, MV | fixed 3, DS | **dynamic, same budget** "
        f"| dynamic − MV 3 | DS, all answers | **dynamic, target {results[0]['target']:g}** "
        "| share of answers | "
        "dynamic − DS all |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gains, gaps, shares = [], [], []
    for r in results:
        mv3 = next(p for p in r["curve"]["mv"] if p[0] == min(3, len(r["curve"]["mv"])))
        ds3 = next(p for p in r["curve"]["ds"] if p[0] == mv3[0])
        eq, free = r["dynamic"]["equal"], r["dynamic"]["free"]
        gain = 100 * (eq["accuracy"] - mv3[2])
        gap = 100 * (free["accuracy"] - r["ds_all"])
        share = free["answers_bought"] / r["recorded"]
        gains.append(gain)
        gaps.append(gap)
        shares.append(share)
        lines.append(
            f"| {r['name']} | {r['tasks']:,} | {r['recorded']:,} "
            f"| {100 * mv3[2]:.2f} ({mv3[1]:,.0f}) | {100 * ds3[2]:.2f} "
            f"| **{100 * eq['accuracy']:.2f}**{spread(eq)} ({eq['answers_bought']:,.0f}) "
            f"| {gain:+.2f} | {100 * r['ds_all']:.2f} | **{100 * free['accuracy']:.2f}**"
            f"{spread(free)} ({free['answers_bought']:,.0f}) | {share:.0%} | {gap:+.2f} |"
        )
    lines.append(
        f"| **mean** | | | | | | **{np.mean(gains):+.2f}** | | | **{np.mean(shares):.0%}** "
        f"| **{np.mean(gaps):+.2f}** |"
    )
    return "\n".join(lines)


def alone_right(runs: list[dict]) -> str:
    """The share of the model's own labels that the hidden gold confirms, over every run."""
    versions = [v for r in runs for v in r["model_versions"] if v["measured_count"]]
    scored = sum(v["measured_count"] for v in versions)
    if not scored:
        return "–"
    right = sum(v["measured_accuracy"] * v["measured_count"] for v in versions)
    return f"{right / scored:.1%} of {scored:,}"


def model_table(results: list[dict]) -> str:
    """The dynamic policy at the target with the model off and on (datasets with item fields)."""
    lines = [
        "| dataset | tasks | model off: answers | accuracy | **model on: answers** | accuracy "
        "| answers saved | accuracy change | per seed: saved, change | labeled by the model alone "
        "| of those, right | model versions |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        on = r["dynamic"].get("model")
        if not on:
            continue
        off = r["dynamic"]["free"]
        saved = 1 - on["answers_bought"] / off["answers_bought"]
        per_seed = ", ".join(
            f"{1 - a['answers_bought'] / b['answers_bought']:.0%} "
            f"{100 * (a['accuracy'] - b['accuracy']):+.2f}"
            for a, b in zip(
                *(sorted(x["runs"], key=lambda r: r["seed"]) for x in (on, off)), strict=True
            )
        )
        lines.append(
            f"| {r['name']} | {r['tasks']:,} | {off['answers_bought']:,.0f} "
            f"| {100 * off['accuracy']:.2f} | **{on['answers_bought']:,.0f}** "
            f"| {100 * on['accuracy']:.2f} | **{saved:+.0%}** "
            f"| {100 * (on['accuracy'] - off['accuracy']):+.2f} | {per_seed} "
            f"| {on['by_model']:,.0f} ({on['model_share']:.0%}) | {alone_right(on['runs'])} "
            f"| {on['versions']:.1f} ({on['useful']:.1f} useful) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", type=int, default=3, help="draws per fixed overlap")
    parser.add_argument("--jobs", type=int, default=2, help="simulations run at once")
    parser.add_argument(
        "--runs", type=int, default=3, help="seeds per simulation; the tables show the mean"
    )
    parser.add_argument(
        "--presence",
        choices=PRESENCES,
        default="recorded",
        help="how often each replayed worker is present (manage.py simulate --presence)",
    )
    parser.add_argument(
        "--gold-share",
        type=float,
        default=0.1,
        help="share of the gold labels given to the platform as control questions (manage.py "
        "simulate --gold-share; default 0.1); the rest scores every column",
    )
    parser.add_argument("--plot", default=str(ROOT / "docs" / "cost.png"))
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--no-model", action="store_true", help="skip the runs with the model on")
    parser.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="target confidence of the runs with an unlimited budget (default 0.95)",
    )
    parser.add_argument(
        "--refit-minutes",
        type=float,
        default=60.0,
        help="simulated minutes between periodic refits (refits also follow every 1/20 of the "
        "answers); 60 keeps the large datasets' runs short",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 0 <= args.gold_share < 1:
        parser.error("--gold-share must be at least 0 and below 1")
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="bench_cost_"))
    try:
        empty = migrated_database(folder)
        results = []
        for name in args.datasets:
            log(f"{name}: fixed-overlap baselines")
            results.append(baselines(name, args.seeds, args.gold_share, args.runs))
        work = []
        for r in results:
            mv3 = next(p for p in r["curve"]["mv"] if p[0] == min(3, len(r["curve"]["mv"])))
            common = [
                "--dataset",
                str(ROOT / "benchmarks" / "data" / r["name"]),
                "--gold-share",
                str(args.gold_share),
                "--refit-minutes",
                str(args.refit_minutes),
                "--presence",
                args.presence,
            ]
            budget = REWARD * int(round(mv3[1]))
            work.append((r, "equal", [*common, "--budget", str(budget)]))
            r["target"] = args.target
            work.append((r, "free", [*common, "--target", str(args.target)]))
            if r["has_items"] and not args.no_model:
                work.append((r, "model", [*common, "--target", str(args.target), "--model", "on"]))
        for r in results:
            r["dynamic"] = {}
        work = [
            (r, key, seed, [*cmd, "--seed", str(seed)])
            for r, key, cmd in work
            for seed in range(args.runs)
        ]
        work.sort(key=lambda w: -w[0]["recorded"])  # the longest first: the run ends sooner
        log(f"{len(work)} simulations, {args.jobs} at a time")
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [
                (r, key, pool.submit(simulate, empty, folder, f"{r['name']}-{key}-{seed}", cmd))
                for r, key, seed, cmd in work
            ]
            for r, key, future in futures:
                report = future.result()
                report.pop("final_labels", None)
                r["dynamic"].setdefault(key, []).append(report)
        for r in results:
            r["dynamic"] = {key: mean_report(reports) for key, reports in r["dynamic"].items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(table(results))
    print()
    print(model_table(results))
    plot(results, Path(args.plot))
    print(f"\nPlot: {args.plot}. Whole run {time.perf_counter() - started:.0f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
