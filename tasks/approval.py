"""Which answers are paid: the project's approval policy, and the money moves it causes.

Policy, per project: an answer is approved once its item is final (consensus reached) — gold and
exam answers at once; if the project rejects gold mismatches, a wrong answer on a gold item is
rejected (not paid) with a reason the worker sees; anything still pending after
``auto_approve_days`` is approved. A requester can approve or reject by hand in the admin.
Approved rewards stay *pending* for ``approval_delay_days``, then become *available* for payout.

Every decision is a compare-and-swap from ``submitted``, so an answer is decided once, and the
ledger's unique (assignment, movement) row makes a second payment impossible even so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.services import audit_record
from billing.models import Account, LedgerEntry, Movement
from billing.services import _entry, approve_entry, counters_move, release_entry
from hitl_platform import money
from hitl_platform.db import rows_update
from hitl_platform.errors import ApplicationError

from .models import Assignment, Project

BATCH = 2000
GOLD_REJECTION = "Your answer contradicted a control question with a known answer."


def _decide(
    *,
    project: Project,
    approve: list[Assignment],
    reject: list[tuple[Assignment, str]],
    now,
    actor=None,
):
    """Record decisions on locked, submitted assignments and move their money (project last)."""
    for a in approve:
        a.status, a.decided_at = Assignment.Status.APPROVED, now
    for a, reason in reject:
        a.status, a.decided_at, a.rejection_reason = Assignment.Status.REJECTED, now, reason
    decided = approve + [a for a, _ in reject]
    rows_update(Assignment, decided, ["status", "decided_at", "rejection_reason"])
    entries = [approve_entry(project_id=project.pk, assignment=a) for a in approve if a.reward]
    entries += [
        release_entry(project_id=project.pk, assignment=a, reason=reason, movement=Movement.REJECT)
        for a, reason in reject
        if a.reward
    ]
    for e in entries:
        e.actor = actor
    spend = sum((a.reward for a in approve), money.ZERO)
    release = sum((a.reward for a, _ in reject), money.ZERO)
    counters_move(project_id=project.pk, spend=spend, release=release, entries=entries)


def answers_approve_due(*, project: Project, now: datetime | None = None) -> tuple[int, int]:
    """Apply the project's policy to its submitted answers; returns (approved, rejected)."""
    now = now or timezone.now()
    due = Q(item__status="final") | Q(kind__in=["gold", "exam"])
    if project.auto_approve_days is not None:
        due |= Q(submitted_at__lte=now - timedelta(days=project.auto_approve_days))
    total_approved = total_rejected = 0
    while True:
        with transaction.atomic():
            batch = list(
                Assignment.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(project=project, status=Assignment.Status.SUBMITTED)
                .filter(due)
                .select_related("item")
                .order_by("pk")[:BATCH]
            )
            if not batch:
                break
            approve, reject = [], []
            for a in batch:
                wrong_gold = a.kind in ("gold", "exam") and a.label != a.item.gold_label
                if project.reject_gold_mismatch and wrong_gold and a.kind == "gold":
                    reject.append((a, GOLD_REJECTION))
                else:
                    approve.append(a)
            _decide(project=project, approve=approve, reject=reject, now=now)
            for a, reason in reject:  # an automated rejection is on the record like a manual one
                audit_record(
                    action="answer.reject",
                    reason=reason,
                    project=project,
                    worker=a.worker,
                    data={"assignment": a.pk, "rule": "gold_mismatch"},
                )
            total_approved += len(approve)
            total_rejected += len(reject)
        if len(batch) < BATCH:
            break
    return total_approved, total_rejected


def answer_decide(*, assignment: Assignment, approve: bool, actor, reason: str = "") -> Assignment:
    """A requester approves or rejects one answer by hand (rejecting needs a reason)."""
    if not approve and not reason.strip():
        raise ApplicationError("Say why the answer is rejected; the worker sees the reason.")
    with transaction.atomic():
        locked = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=assignment.pk)
        )
        if locked.status != Assignment.Status.SUBMITTED:
            raise ApplicationError(
                f"This answer is {locked.get_status_display().lower()}, not awaiting a decision."
            )
        now = timezone.now()
        if approve:
            _decide(project=locked.project, approve=[locked], reject=[], now=now, actor=actor)
        else:
            _decide(
                project=locked.project, approve=[], reject=[(locked, reason)], now=now, actor=actor
            )
        audit_record(
            action="answer.approve" if approve else "answer.reject",
            reason=reason or "Approved by hand",
            actor=actor,
            project=locked.project,
            worker=locked.worker,
            data={"assignment": locked.pk},
        )
    assignment.refresh_from_db()
    return assignment


def earnings_mature(*, now: datetime | None = None) -> int:
    """Move approved rewards past their project's approval delay from pending to available."""
    now = now or timezone.now()
    matured = LedgerEntry.objects.filter(assignment=OuterRef("pk"), movement=Movement.MATURE)
    count = 0
    for project in Project.objects.filter(assignments__status="approved").distinct():
        cutoff = now - timedelta(days=project.approval_delay_days)
        with transaction.atomic():
            due = list(
                Assignment.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(project=project, status="approved", decided_at__lte=cutoff, reward__gt=0)
                .exclude(Exists(matured))
                .order_by("pk")[:50_000]
            )
            LedgerEntry.objects.bulk_create(
                [
                    _entry(
                        Movement.MATURE,
                        Account.PENDING,
                        a.worker_id,
                        Account.AVAILABLE,
                        a.worker_id,
                        a.reward,
                        project_id=project.pk,
                        worker_id=a.worker_id,
                        assignment=a,
                    )
                    for a in due
                ]
            )
        count += len(due)
    return count
