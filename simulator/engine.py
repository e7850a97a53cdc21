"""Run a simulated crowd through the platform's real services on a simulated clock.

Nothing here writes a model directly: the project is created, imported and published with
``tasks.services``, workers with ``workers.services.worker_create``, and every answer is a
``assignment_claim`` → ``answer_submit`` (or ``assignment_skip``) at a simulated time. The periodic
jobs run when the simulated clock passes their time, as Celery beat would: lease expiry every
minute, refits of the project (and its blocking rules) and approval of due answers every 5
minutes, earnings maturity every hour. A refit also follows every ``refit_every`` answers (the
service enqueues it; jobs run in-process during a simulation).

The simulated clock starts ``CLOCK_OFFSET`` before the real time, so that jobs called with the
simulated time (earnings maturity is not per project) never act ahead of real time on other
projects of the same database.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from aggregation.jobs import project_refit_job
from hitl_platform import money
from hitl_platform.celery import app as celery_app
from hitl_platform.errors import NotAllowed
from tasks.approval import answers_approve_due, earnings_mature
from tasks.models import Project
from tasks.routing import (
    BudgetExhausted,
    LeaseNotLive,
    answer_submit,
    assignment_claim,
    assignment_skip,
    assignments_expire,
    draws_from,
)
from tasks.services import items_import, project_create, project_publish
from workers.models import Worker
from workers.services import worker_create

from .baselines import max_overlap
from .crowd import PRESENCES, Crowd, ReplayCrowd, SyntheticCrowd
from .data import Dataset, items_csv, model_features, seeded_gold_split

logger = logging.getLogger(__name__)

CLOCK_OFFSET = timedelta(days=60)
ARRIVAL_WINDOW = 600.0  # workers arrive during the first 10 simulated minutes
IDLE_WAIT = 300.0  # a worker with no work comes back after 5 minutes…
IDLE_TRIES = 3  # …this many times, then leaves
SKIP_SECONDS = 2.0
#: Simulated seconds between runs of each periodic job (the production beat schedule).
SCHEDULE = {"expire": 60.0, "refit": 300.0, "approve": 300.0, "mature": 3600.0}
POLICIES = ("dynamic", "fixed")
WORKER_KINDS = ("replay", "synthetic")
NO_BLOCKING = {
    "block_gold_accuracy": 0.0,
    "block_estimated_accuracy": 0.0,
    "block_min_median_seconds": 0.0,
}


class SimulationError(ValueError):
    """Bad settings; the message says what, in one line."""


@dataclass
class SimulationConfig:
    policy: str = "dynamic"
    overlap: int | None = None  # fixed: answers per item; dynamic: the maximum overlap
    min_overlap: int = 2  # dynamic only
    target: float = 0.95  # dynamic only
    reward: Decimal = Decimal("0.05")
    budget: Decimal | None = None  # None: enough for every answer the crowd can give
    gold_share: float = 0.1
    workers: str = "replay"
    presence: str = "recorded"  # replay: each worker present as often as in the data, or "equal"
    n_workers: int | None = None  # synthetic crowd size; default: the dataset's worker count
    model: bool = False
    retrain_every: int | None = None  # None: a tenth of the items, at least 100
    method: str = "ds"
    seed: int = 0
    refit_every: int | None = None  # None: about 20 refits over the run (at least every 50)
    abandon: float = 0.02  # share of leases a worker walks away from (they expire)
    max_tasks: int | None = None  # simulate only the first N tasks of the dataset
    blocking: bool = True  # the project's blocking rules (off: nobody is blocked)
    refit_minutes: float = 5.0  # simulated minutes between periodic refits (beat: 5)

    def check(self) -> None:
        if self.policy not in POLICIES:
            raise SimulationError(f"--policy must be one of {', '.join(POLICIES)}")
        if self.workers not in WORKER_KINDS:
            raise SimulationError(f"--workers must be one of {', '.join(WORKER_KINDS)}")
        if self.presence not in PRESENCES:
            raise SimulationError(f"--presence must be one of {', '.join(PRESENCES)}")
        if self.overlap is not None and self.overlap < 1:
            raise SimulationError("--overlap must be at least 1")
        if self.policy == "fixed" and self.overlap is None:
            raise SimulationError("--policy fixed needs --overlap N")
        if not 0.5 <= self.target <= 0.999:
            raise SimulationError("--target must be between 0.5 and 0.999")
        if not 0.0 <= self.gold_share < 1.0:
            raise SimulationError("--gold-share must be in [0, 1)")
        if self.reward <= 0:
            raise SimulationError("--reward must be positive")
        if self.budget is not None and self.budget < self.reward:
            raise SimulationError("--budget must pay at least one answer (≥ --reward)")
        if self.n_workers is not None and self.n_workers < 1:
            raise SimulationError("--n-workers must be at least 1")
        if self.refit_every is not None and self.refit_every < 1:
            raise SimulationError("--refit-every must be at least 1")
        if self.retrain_every is not None and (self.retrain_every < 1 or not self.model):
            raise SimulationError("--retrain-every needs --model on and must be at least 1")
        if not 0.0 <= self.abandon < 1.0:
            raise SimulationError("--abandon must be in [0, 1)")
        if self.refit_minutes <= 0:
            raise SimulationError("--refit-minutes must be positive")
        if self.max_tasks is not None and self.max_tasks < 2:
            raise SimulationError("--max-tasks must be at least 2")


@dataclass
class Run:
    """What a simulation created and counted; ``simulator.results`` turns it into the report."""

    project: Project
    dataset: Dataset
    config: SimulationConfig
    hidden_gold: set[str]
    given_gold: set[str]
    answers_available: int | None
    counters: dict[str, int] = field(default_factory=dict)
    stopped_by: str = "work"
    simulated_seconds: float = 0.0
    clock_start: datetime | None = None  # the simulated clock's zero (set when the run starts)
    remote: bool = False  # driven over the REST API (``simulator.remote``): real time, no breaks
    wall_seconds: float = 0.0


def make_crowd(dataset: Dataset, config: SimulationConfig, rng: np.random.Generator) -> Crowd:
    if config.workers == "replay":
        return ReplayCrowd(dataset, rng, presence=config.presence)
    return SyntheticCrowd(dataset, rng, n_workers=config.n_workers)


def project_settings(
    dataset: Dataset, config: SimulationConfig, crowd: Crowd, n_tasks: int, n_gold: int
) -> dict:
    """The project a requester would set up for this simulation.

    With the model on, it reads every item field (``simulator.data.model_features``), trains first
    at 50 final labels and retrains after every tenth of the items (at least 100) newly labeled,
    or ``config.retrain_every``; the auto-label threshold, spot-check rate and model share are the project defaults.
    """
    model = {}
    if config.model:
        features = model_features(dataset)
        if not features:
            raise SimulationError(
                f"--model on needs item fields: {dataset.name} has no items.csv to learn from"
            )
        model = {
            "model_enabled": True,
            "model_features": features,
            "model_retrain_every": config.retrain_every or max(100, n_tasks // 10),
        }
    if isinstance(crowd, ReplayCrowd):
        most = max_overlap(dataset)
        capacity = crowd.capacity
    else:
        most = 10
        capacity = None
    if config.policy == "fixed":
        low = high = config.overlap
        target = 0.5  # irrelevant: an item gets exactly N answers (final or review at N)
    else:
        high = config.overlap or most
        low = min(config.min_overlap, high)
        target = config.target
    if capacity is None:
        capacity = n_tasks * high + n_gold * 2 * len(crowd.names) // max(n_tasks, 1) + n_gold
    budget = config.budget
    if budget is None:  # enough for every possible answer, with room for reserved leases
        budget = money.quantize(config.reward * (int(capacity * 1.05) + 50))
    expected = min(capacity, int(budget / config.reward))
    refit_every = config.refit_every or max(50, expected // 20)
    return {
        "name": f"Simulation: {dataset.name} ({config.workers}, {config.policy}"
        + (", model)" if config.model else ")"),
        "description": "Created by the crowd simulator (manage.py simulate).",
        "labels": dataset.labels,
        "reward": config.reward,
        "budget": budget,
        "min_overlap": low,
        "max_overlap": high,
        "target_confidence": target,
        # A replayed worker cannot take an exam on items they never saw: no exam in replay;
        # their recorded answers on gold items still reach them at the gold rate.
        "exam_size": 0 if (config.workers == "replay" or not n_gold) else 4,
        "gold_rate": 0.1 if n_gold else 0.0,
        "aggregation_method": config.method,
        "refit_every": refit_every,
        **({} if config.blocking else NO_BLOCKING),
        **model,
    }


def _requester():
    user, _ = get_user_model().objects.get_or_create(
        username="simulator-requester", defaults={"is_staff": True}
    )
    return user


def setup(dataset: Dataset, config: SimulationConfig, *, password: str | None = None):
    """Create the project (items, given gold, hidden gold as audit labels) and worker accounts.

    Returns ``(run, crowd, workers)``. Worker usernames are ``sim<project id>-<dataset worker>``.
    ``password`` is for runs over the API; local runs create workers without a usable password.
    """
    config.check()
    if config.max_tasks:
        dataset = dataset.head(config.max_tasks)
    given, hidden, rng = seeded_gold_split(dataset, config.gold_share, config.seed)
    crowd = make_crowd(dataset, config, rng)
    fields = project_settings(dataset, config, crowd, len(dataset.tasks), len(given))
    project = project_create(owner=_requester(), **fields)
    items_import(project=project, data=items_csv(dataset, given, hidden), fmt="csv")
    project_publish(project=project)
    workers = [
        worker_create(username=f"sim{project.pk}-{name}"[:150], password=password)
        for name in crowd.names
    ]
    run = Run(
        project=project,
        dataset=dataset,
        config=config,
        hidden_gold=hidden,
        given_gold=given,
        answers_available=crowd.capacity if isinstance(crowd, ReplayCrowd) else None,
    )
    return run, crowd, workers


def simulate(
    dataset: Dataset,
    config: SimulationConfig,
    *,
    progress: Callable[[str], None] | None = None,
    progress_every: float = 5.0,
) -> Run:
    """Set up and run a simulation to the end of the work or the budget; see the module doc."""
    started = time.perf_counter()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # jobs run here, on the simulation's data
    try:
        run, crowd, workers = setup(dataset, config)
        with draws_from(random.Random(config.seed)):  # control questions: the same for a seed
            _Loop(run, crowd, workers, progress, progress_every).go()
    finally:
        celery_app.conf.task_always_eager = eager
    run.wall_seconds = time.perf_counter() - started
    return run


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Loop:
    """The event loop: workers' claims and submits in simulated-time order, jobs in between."""

    def __init__(self, run: Run, crowd: Crowd, workers: list[Worker], progress, progress_every):
        self.run, self.crowd, self.workers = run, crowd, workers
        self.project = run.project
        self.rng = np.random.default_rng(run.config.seed + 1)
        self.progress, self.progress_every = progress, progress_every
        run.clock_start = timezone.now() - CLOCK_OFFSET
        self.events: list = []
        self.seq = itertools.count()
        self.counters = run.counters
        for key in ("claims", "answers", "skips", "abandoned", "late", "idle", "refits", "expired"):
            self.counters[key] = 0
        self.pk_of = dict(self.project.items.values_list("external_id", "pk"))
        self.ext_of = {pk: ext for ext, pk in self.pk_of.items()}
        # Replay: the items each worker may still be given (they answered them in the data).
        self.todo: list[set[int] | None] = []
        for i in range(len(workers)):
            tasks = crowd.eligible(i)
            self.todo.append(
                None if tasks is None else {self.pk_of[t] for t in tasks if t in self.pk_of}
            )
        self.idle = [0] * len(workers)
        self.schedule = {**SCHEDULE, "refit": 60.0 * run.config.refit_minutes}
        self.next_job = dict(self.schedule)

    def at(self, seconds: float) -> datetime:
        return self.run.clock_start + timedelta(seconds=seconds)

    def push(self, t: float, kind: str, worker: int, payload=None) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, worker, payload))

    def go(self) -> None:
        for i in range(len(self.workers)):
            if self.todo[i] is None or self.todo[i]:
                # A worker who is often away may also turn up late (``Crowd.pause``).
                first = self.rng.uniform(0, ARRIVAL_WINDOW) + self.crowd.pause(i)
                self.push(float(first), "claim", i)
        self.wall0 = last_report = time.perf_counter()
        t = self.active_until = 0.0
        while self.events:
            t, _, kind, i, payload = heapq.heappop(self.events)
            self.jobs_due(t)
            if kind == "claim":
                self.claim(t, i)
            else:
                self.submit(t, i, payload)
            if self.progress and time.perf_counter() - last_report > self.progress_every:
                last_report = time.perf_counter()
                self.progress(
                    f"[{self.run.dataset.name}] {self.counters['answers']} answers, "
                    f"simulated {t / 3600:.1f} h, {last_report - self.wall0:.0f} s"
                )
        self.settle(t)
        # Until the last lease or answer: after a budget stop, workers who come back and find no
        # money (some after long breaks) move the clock on without doing anything.
        self.run.simulated_seconds = self.active_until

    # --- workers -----------------------------------------------------------------------------

    def claim(self, t: float, i: int) -> None:
        worker, todo = self.workers[i], self.todo[i]
        self.counters["claims"] += 1
        try:
            lease = assignment_claim(
                worker=worker, project=self.project, now=self.at(t), eligible=todo
            )
        except BudgetExhausted:
            self.run.stopped_by = "budget"
            return
        except NotAllowed:
            if not Project.objects.filter(pk=self.project.pk, status="active").exists():
                self.run.stopped_by = "budget"
            return  # blocked in the project, or the project paused: this worker leaves
        if lease is None:
            self.counters["idle"] += 1
            self.idle[i] += 1
            if self.idle[i] <= IDLE_TRIES:
                self.push(t + IDLE_WAIT, "claim", i)
            return
        self.idle[i] = 0
        self.active_until = t
        if todo is not None:
            todo.discard(lease.item_id)
        label = self.crowd.answer(i, self.ext_of[lease.item_id])
        if label is None:  # a replayed worker given an item they never answered (a gold item)
            assignment_skip(assignment=lease, worker=worker)
            self.counters["skips"] += 1
            self.push(t + SKIP_SECONDS, "claim", i)
            return
        if self.rng.random() < self.run.config.abandon:  # walks away; the lease expires
            self.counters["abandoned"] += 1
            duration = self.project.assignment_seconds + self.crowd.seconds(i)
            self.push(t + duration, "claim", i)
            return
        self.push(t + self.crowd.seconds(i), "submit", i, (lease, label))

    def submit(self, t: float, i: int, payload) -> None:
        lease, label = payload
        try:
            answer_submit(assignment=lease, worker=self.workers[i], label=label, now=self.at(t))
        except LeaseNotLive:
            self.counters["late"] += 1
        else:
            self.counters["answers"] += 1
        self.active_until = t
        if self.todo[i] is None or self.todo[i]:
            self.push(t + 1.0 + self.crowd.pause(i), "claim", i)

    # --- periodic jobs -----------------------------------------------------------------------

    def jobs_due(self, t: float) -> None:
        while True:
            name = min(self.next_job, key=self.next_job.get)
            due = self.next_job[name]
            if due > t:
                return
            self.next_job[name] = due + self.schedule[name]
            self.job(name, due)

    def job(self, name: str, t: float) -> None:
        now = self.at(t)
        if name == "expire":
            self.counters["expired"] += assignments_expire(now=now)
        elif name == "refit":
            if Project.objects.filter(pk=self.project.pk, answers_since_refit__gt=0).exists():
                self.refit()
        elif name == "approve":
            answers_approve_due(project=self.project, now=now)
        elif name == "mature":
            earnings_mature(now=min(now, timezone.now()))

    def refit(self) -> None:
        project_refit_job.apply(args=(self.project.pk,), throw=True)
        self.counters["refits"] += 1

    def settle(self, t: float) -> None:
        """The end of the run: expire what is left, refit once more, then pay every answer as
        the platform eventually would (auto-approval after ``auto_approve_days``)."""
        project = Project.objects.get(pk=self.project.pk)
        end = self.at(t) + project.assignment_duration + timedelta(seconds=1)
        self.counters["expired"] += assignments_expire(now=end)
        self.refit()
        approve_at = end + timedelta(days=project.auto_approve_days, seconds=1)
        answers_approve_due(project=project, now=approve_at)
        mature_at = approve_at + timedelta(days=project.approval_delay_days, seconds=1)
        if mature_at < timezone.now():
            earnings_mature(now=mature_at)
