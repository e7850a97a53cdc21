"""Many workers at once on PostgreSQL: nothing is answered twice, nothing overspent, nothing lost."""

import random
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from audit.models import AuditEvent
from billing.selectors import ledger_mismatches
from hitl_platform.errors import ApplicationError, NotAllowed
from tasks.models import Assignment, Item, Project
from tasks.routing import (
    BudgetExhausted,
    LeaseNotLive,
    answer_submit,
    assignment_claim,
    assignment_skip,
    assignments_expire,
)

pytestmark = pytest.mark.postgres

THREADS = 32


def run_threads(target, n=THREADS):
    barrier = threading.Barrier(n)
    errors = []

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # surfaced below: a thread must not die silently
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]


def assert_invariants(project: Project, accepted: dict[int, str]) -> None:
    project.refresh_from_db()
    answered = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    # Every accepted submit stored exactly once, with its label; nothing else stored.
    assert dict(answered.values_list("pk", "label")) == accepted
    # No item over its maximum overlap, and the item counters agree with the rows.
    for item in Item.objects.filter(project=project).annotate(
        answered=Count("assignments", filter=Q(assignments__status__in=Assignment.ANSWERED)),
        leased=Count("assignments", filter=Q(assignments__status="leased")),
    ):
        if not item.gold_label:
            assert item.answered + item.leased <= project.max_overlap
        assert (item.answers_count, item.leases_count) == (item.answered, item.leased)
    # No worker answered an item twice; at most one live lease per worker.
    pairs = Counter(answered.values_list("item_id", "worker_id"))
    assert max(pairs.values(), default=1) == 1
    live = Counter(
        Assignment.objects.filter(project=project, status="leased").values_list(
            "worker_id", flat=True
        )
    )
    assert max(live.values(), default=1) == 1
    # The budget: what is reserved is exactly what live leases and unpaid answers hold.
    held = Assignment.objects.filter(project=project, status__in=["leased", "submitted"]).aggregate(
        s=Sum("reward")
    )["s"] or Decimal(0)
    assert project.reserved == held
    assert project.spent + project.reserved <= project.budget


@pytest.mark.django_db(transaction=True)
def test_32_workers_claiming_skipping_and_submitting_at_once(live_project, make_worker):
    project = live_project(
        tasks=60,
        gold=12,
        exam_size=2,
        exam_pass_accuracy=0.0,
        gold_rate=0.2,
        min_overlap=3,
        max_overlap=3,
        target_confidence=0.999,
        refit_every=40,
        block_min_median_seconds=0,
        block_gold_accuracy=0,
        block_estimated_accuracy=0,
    )
    workers = [make_worker() for _ in range(THREADS)]
    accepted: dict[int, str] = {}
    lock = threading.Lock()

    def work(i):
        rng = random.Random(i)
        worker = workers[i]
        for _ in range(40):
            try:
                lease = assignment_claim(worker=worker, project=project)
            except BudgetExhausted:
                return
            if lease is None:
                return
            if rng.random() < 0.1:
                assignment_skip(assignment=lease, worker=worker)
                continue
            label = rng.choice(["pos", "neg"])
            answer_submit(assignment=lease, worker=worker, label=label)
            answer_submit(assignment=lease, worker=worker, label=label)  # a double click
            with lock:
                accepted[lease.pk] = label

    run_threads(work)
    assert len(accepted) > 100
    assert_invariants(project, accepted)
    assert ledger_mismatches(project=project) == []
    # The work ran out, not the threads: every item reached its overlap or was skipped by all.
    assert Item.objects.filter(project=project, gold_label="", answers_count__lt=3).count() < 10
    assert Assignment.objects.filter(kind="exam", status="submitted").count() == 2 * THREADS
    assert Assignment.objects.filter(kind="gold").exists()


@pytest.mark.django_db(transaction=True)
def test_a_small_budget_is_never_overspent_by_a_cent(live_project, make_worker):
    project = live_project(
        tasks=100, min_overlap=1, max_overlap=3, reward=Decimal("0.07"), budget=Decimal("2.00")
    )
    workers = [make_worker() for _ in range(THREADS)]
    accepted: dict[int, str] = {}
    lock = threading.Lock()
    refused = []

    def work(i):
        for _ in range(10):
            try:
                lease = assignment_claim(worker=workers[i], project=project)
            except (BudgetExhausted, NotAllowed):  # used up, then paused by itself
                refused.append(i)
                return
            if lease is None:
                return
            answer_submit(assignment=lease, worker=workers[i], label="pos")
            with lock:
                accepted[lease.pk] = "pos"

    run_threads(work)
    assert_invariants(project, accepted)
    assert len(accepted) == 28  # floor(2.00 / 0.07): every cent that could pay an answer did
    assert project.reserved == Decimal("1.96") and refused
    assert project.status == "paused"  # it paused itself when it could not pay one more answer
    assert AuditEvent.objects.filter(action="project.pause", project=project).count() == 1
    assert ledger_mismatches(project=project) == []


@pytest.mark.django_db(transaction=True)
def test_lease_expiry_racing_submits_has_exactly_one_outcome(live_project, make_worker):
    project = live_project(tasks=200, min_overlap=1, max_overlap=1, assignment_seconds=60)
    workers = [make_worker() for _ in range(THREADS)]
    t0 = timezone.now()
    leases = [assignment_claim(worker=w, project=project, now=t0) for w in workers]
    deadline = t0 + timedelta(seconds=60)
    outcome: dict[int, str] = {}
    lock = threading.Lock()

    def work(i):
        if i % 4 == 0:  # a quarter of the threads are the expiry job, firing after the deadline
            for _ in range(5):
                assignments_expire(now=deadline + timedelta(seconds=1))
            return
        lease = leases[i]
        # Submits land on both sides of the deadline.
        when = deadline - timedelta(milliseconds=1) if i % 2 else deadline + timedelta(seconds=1)
        try:
            answer_submit(assignment=lease, worker=workers[i], label="neg", now=when)
            result = "submitted"
        except LeaseNotLive:
            result = "expired"
        except ApplicationError as exc:
            result = f"error: {exc.message}"
        with lock:
            outcome[lease.pk] = result

    run_threads(work)
    for pk, result in outcome.items():
        assert Assignment.objects.get(pk=pk).status == result
        if leases.index(Assignment.objects.get(pk=pk)) % 2 == 0:
            assert result == "expired", "a submit after the deadline must never be stored"
    assert set(outcome.values()) <= {"submitted", "expired"}
    assert_invariants(project, {pk: "neg" for pk, r in outcome.items() if r == "submitted"})
