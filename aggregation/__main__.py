"""Command line: ``python -m aggregation answers.csv [--method ds] [--gold gold.csv] [--json]``.

Reads a ``task,worker,label`` CSV and prints ``task,label,confidence`` CSV; with ``--gold`` it
prints the accuracy on the gold tasks instead; ``--json`` prints one JSON line
``{"method", "accuracy", "n_tasks", "n_answers", "n_iter", "seconds"}``. Bad input ends with a
one-line error on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence

from .io import InputError, read_answers_csv, read_gold_csv
from .methods import DEFAULT_METHOD, METHODS, make_estimator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aggregation", description="Aggregate crowd answers (task,worker,label CSV)."
    )
    parser.add_argument("answers", help="CSV with columns task,worker,label")
    parser.add_argument(
        "--method",
        choices=sorted(METHODS),
        default=DEFAULT_METHOD,
        help=f"default: {DEFAULT_METHOD}",
    )
    parser.add_argument("--gold", help="CSV with columns task,label: print accuracy on these tasks")
    parser.add_argument("--json", action="store_true", help="print one JSON line of figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        answers = read_answers_csv(args.answers)
        gold = read_gold_csv(args.gold, answers) if args.gold else None
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    model = make_estimator(args.method).fit(answers)
    seconds = time.perf_counter() - start
    accuracy = None
    if gold is not None:
        accuracy = float((model.labels_[gold[0]] == gold[1]).mean())
    if args.json:
        record = {
            "method": args.method,
            "accuracy": accuracy,
            "n_tasks": answers.n_tasks,
            "n_answers": answers.n_answers,
            "n_iter": getattr(model, "n_iter_", None),
            "seconds": round(seconds, 4),
        }
        print(json.dumps(record))
    elif gold is not None:
        print(f"accuracy {accuracy:.4f} on {len(gold[0])} gold tasks ({args.method})")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["task", "label", "confidence"])
        confidence = model.proba_.max(axis=1)
        labels = answers.label_ids[model.labels_]
        rows = zip(
            answers.task_ids.tolist(),
            labels.tolist(),
            (f"{c:.6f}" for c in confidence),
            strict=True,
        )
        try:
            writer.writerows(rows)
        except BrokenPipeError:  # e.g. piped into `head`
            sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
