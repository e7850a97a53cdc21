"""``manage.py simulate``: price a project on a real crowd dataset before spending (docs/simulator.md)."""

import json
import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from simulator.crowd import PRESENCES
from simulator.data import DatasetError, load_dataset
from simulator.engine import (
    POLICIES,
    WORKER_KINDS,
    SimulationConfig,
    SimulationError,
    simulate,
    stderr_progress,
)
from simulator.results import run_results, summary_lines


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Create a project from a crowd dataset (answers.csv, gold.csv, optional items.csv), run "
        "simulated workers through the real services (claim, answer, submit, leases, expiry, "
        "refits, approval, payment) on a simulated clock until the work or the budget is used up, "
        "and print answers bought, money spent, accuracy on the hidden gold and cost per accurate "
        "label. It writes to the configured database: use a scratch DATABASE_URL. With --url it "
        "drives a running deployment over the REST API instead (docs/simulator.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dataset", required=True, help="Dataset folder (answers.csv, gold.csv[, items.csv])."
        )
        parser.add_argument(
            "--policy",
            choices=POLICIES,
            default="dynamic",
            help="dynamic (default): the platform's stopping rule; fixed: exactly --overlap answers per item.",
        )
        parser.add_argument(
            "--overlap",
            type=int,
            help="fixed: answers per item (required); dynamic: maximum overlap (default: the most answers any task has in the data, 10 for synthetic workers).",
        )
        parser.add_argument(
            "--min-overlap",
            type=int,
            default=2,
            help="dynamic: minimum answers before an item can be final (default 2).",
        )
        parser.add_argument(
            "--target", type=float, default=0.95, help="dynamic: target confidence (default 0.95)."
        )
        parser.add_argument(
            "--reward",
            type=_money,
            default=Decimal("0.05"),
            help="Reward per answer (default 0.05).",
        )
        parser.add_argument(
            "--budget",
            type=_money,
            help="Budget (default: enough for every answer the crowd can give).",
        )
        parser.add_argument(
            "--gold-share",
            type=float,
            default=0.1,
            help="Share of the gold labels given to the platform as gold items; the rest is hidden and only scores (default 0.1).",
        )
        parser.add_argument(
            "--workers",
            choices=WORKER_KINDS,
            default="replay",
            help="replay (default): the dataset's workers and their recorded answers; synthetic: workers answering from confusion matrices estimated on the gold.",
        )
        parser.add_argument(
            "--presence",
            choices=PRESENCES,
            default="recorded",
            help="replay: recorded (default): each worker answers at a rate in proportion to the answers they gave in the data, all of them spread over the same span; equal: every worker answers back to back. Runs with --url never pause.",
        )
        parser.add_argument(
            "--n-workers",
            type=int,
            help="synthetic: crowd size (default: the dataset's worker count).",
        )
        parser.add_argument(
            "--model",
            choices=("on", "off"),
            default="off",
            help="on: the project trains the pre-labeler on the item fields (items.csv) and lets it vote and label what it is sure of; off (default): people only.",
        )
        parser.add_argument(
            "--retrain-every",
            type=int,
            help="With --model on: retrain after this many new labels (default: a tenth of the items, at least 100; the project default is 100).",
        )
        parser.add_argument(
            "--method",
            choices=("ds", "ods", "glad", "wmv", "mv"),
            default="ds",
            help="The project's aggregation method (default ds).",
        )
        parser.add_argument(
            "--refit-every",
            type=int,
            help="Refit after this many answers (default: a twentieth of the answers the run can buy, at least 50); the 5-minute periodic refit runs as well.",
        )
        parser.add_argument(
            "--abandon",
            type=float,
            default=0.02,
            help="Share of leases a worker walks away from, to expire (default 0.02).",
        )
        parser.add_argument(
            "--max-tasks", type=int, help="Simulate only the first N tasks of the dataset."
        )
        parser.add_argument(
            "--refit-minutes",
            type=float,
            default=5.0,
            help="Simulated minutes between periodic refits (default 5, as Celery beat).",
        )
        parser.add_argument(
            "--no-blocking",
            action="store_true",
            help="Turn the project's blocking rules off (a replay then keeps every worker).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument(
            "--json",
            dest="json_out",
            help="Also write the full report (with every final label) as JSON to this file.",
        )
        parser.add_argument(
            "--url",
            help="Drive a running deployment at this loopback URL over the REST API instead of the services in this process.",
        )
        parser.add_argument(
            "--threads", type=int, default=8, help="--url: concurrent worker threads (default 8)."
        )
        parser.add_argument(
            "--max-requests",
            type=int,
            default=100_000,
            help="--url: stop after this many HTTP requests (default 100000).",
        )
        parser.add_argument(
            "--time-limit",
            type=float,
            default=600.0,
            help="--url: stop after this many seconds (default 600).",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress on stderr.")

    def handle(self, *args, **opts):
        config = SimulationConfig(
            policy=opts["policy"],
            overlap=opts["overlap"],
            min_overlap=opts["min_overlap"],
            target=opts["target"],
            reward=opts["reward"],
            budget=opts["budget"],
            gold_share=opts["gold_share"],
            workers=opts["workers"],
            presence=opts["presence"],
            n_workers=opts["n_workers"],
            model=opts["model"] == "on",
            retrain_every=opts["retrain_every"],
            method=opts["method"],
            seed=opts["seed"],
            refit_every=opts["refit_every"],
            abandon=opts["abandon"],
            max_tasks=opts["max_tasks"],
            blocking=not opts["no_blocking"],
            refit_minutes=opts["refit_minutes"],
        )
        progress = None if opts["quiet"] else stderr_progress
        if opts["verbosity"] < 2:  # one line per refit and job is noise next to the progress
            for name in ("aggregation", "celery", "kombu", "tasks", "audit"):
                logging.getLogger(name).setLevel(logging.ERROR)
        try:
            if opts["min_overlap"] < 1:
                raise SimulationError("--min-overlap must be at least 1")
            config.check()
            dataset = load_dataset(opts["dataset"])
            if opts["url"]:
                from simulator.remote import RemoteOptions, simulate_remote  # noqa: PLC0415

                run = simulate_remote(
                    dataset,
                    config,
                    RemoteOptions(
                        url=opts["url"],
                        threads=opts["threads"],
                        max_requests=opts["max_requests"],
                        time_limit=opts["time_limit"],
                    ),
                    progress=progress,
                )
            else:
                run = simulate(dataset, config, progress=progress)
        except (SimulationError, DatasetError) as exc:
            raise CommandError(str(exc)) from None
        report = run_results(run)
        for line in summary_lines(report):
            self.stdout.write(line)
        if opts["json_out"]:
            Path(opts["json_out"]).write_text(json.dumps(report, indent=1, sort_keys=True))
            self.stdout.write(f"report written to {opts['json_out']}")
