"""Reads about workers: their standing and earnings, as the worker sees them."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.db.models.functions import RowNumber

from hitl_platform import money
from tasks.models import Assignment, Project

from .models import Worker, WorkerStanding


def worker_earnings(*, worker: Worker) -> dict[str, Decimal]:
    """Pending (answered, awaiting approval), approved and paid amounts."""
    sums = worker.assignments.aggregate(
        pending=Sum("reward", filter=Q(status="submitted")),
        approved=Sum("reward", filter=Q(status="approved")),
    )
    return {
        "pending": money.quantize(sums["pending"] or 0),
        "approved": money.quantize(sums["approved"] or 0),
        "paid": money.ZERO,
    }


def worker_accuracy(*, worker: Worker) -> float | None:
    """Estimated accuracy over all projects, weighted by answers."""
    rows = WorkerStanding.objects.filter(
        worker=worker, estimated_accuracy__isnull=False
    ).values_list("estimated_accuracy", "answers")
    total = sum(n for _, n in rows)
    return round(sum(a * n for a, n in rows) / total, 4) if total else None


# --- The worker's browser UI ------------------------------------------------------------------------

ANSWERED = Assignment.ANSWERED
#: A worker's own pace counts once they have this many timed answers in a project.
OWN_PACE_MIN_ANSWERS = 5


def worker_answers_count(*, worker: Worker) -> int:
    return worker.assignments.filter(status__in=ANSWERED).count()


def worker_answers(*, worker: Worker) -> QuerySet:
    """The worker's answers, newest first, with their project and item (for the history page)."""
    return (
        worker.assignments.filter(status__in=ANSWERED)
        .select_related("project", "item")
        .order_by("-submitted_at", "-id")
    )


def worker_standings(*, worker: Worker, project_ids) -> dict[int, WorkerStanding]:
    return {
        s.project_id: s
        for s in WorkerStanding.objects.filter(worker=worker, project__in=project_ids)
    }


def _median_seconds(answers: QuerySet) -> dict[int, tuple[float, int]]:
    """Median answer time per project and the number of timed answers behind it, in one query.

    The database ranks each project's answers by time (window functions) and returns only the
    one or two middle rows of each project; Python averages those, never looping over answers.
    """
    middle = (
        answers.filter(status__in=ANSWERED, seconds_spent__isnull=False)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=F("project_id"), order_by=F("seconds_spent").asc()
            ),
            n=Window(Count("id"), partition_by=F("project_id")),
        )
        .filter(rank__gte=(F("n") + 1) / 2, rank__lte=F("n") / 2 + 1)
        .values_list("project_id", "seconds_spent", "n")
    )
    rows: dict[int, list] = {}
    for project_id, seconds, n in middle:  # at most two rows per project
        rows.setdefault(project_id, [[], n])[0].append(seconds)
    return {pid: (sum(values) / len(values), n) for pid, (values, n) in rows.items()}


@dataclass(frozen=True)
class PayRate:
    per_hour: Decimal | None
    median_seconds: float | None
    basis: str  # "yours": the worker's own median; "everyone": the project's; "": unknown


def projects_pay_rates(*, worker: Worker, projects) -> dict[int, PayRate]:
    """Estimated pay per hour in each project: reward × 3600 / median seconds per answer.

    The worker's own median in the project once they have ``OWN_PACE_MIN_ANSWERS`` timed answers,
    the median over all workers of the project otherwise; unknown (``None``) without answers.
    Two queries whatever the number of projects and answers.
    """
    projects = list(projects)
    ids = [p.pk for p in projects]
    own = _median_seconds(worker.assignments.filter(project_id__in=ids))
    everyone = _median_seconds(Assignment.objects.filter(project_id__in=ids))
    rates = {}
    for project in projects:
        median, basis = None, ""
        if project.pk in own and own[project.pk][1] >= OWN_PACE_MIN_ANSWERS:
            median, basis = own[project.pk][0], "yours"
        elif project.pk in everyone:
            median, basis = everyone[project.pk][0], "everyone"
        per_hour = None
        if median:
            per_hour = money.quantize(project.reward * 3600 / Decimal(repr(median)))
        rates[project.pk] = PayRate(per_hour=per_hour, median_seconds=median, basis=basis)
    return rates


def worker_for_task(*, user, project_id: int) -> Worker | None:
    """The user's worker profile with, in the same query, what the task page needs to know before
    it claims: the project's status, the worker's standing in it (state, exam answers, answers)
    and the expiry of their current lease there, if any. ``None`` for a user who is no worker."""
    standing = WorkerStanding.objects.filter(worker=OuterRef("pk"), project_id=project_id)
    return (
        Worker.objects.filter(user=user)
        .annotate(
            project_status=Subquery(Project.objects.filter(pk=project_id).values("status")[:1]),
            standing_state=Subquery(standing.values("state")[:1]),
            standing_exam_answers=Subquery(standing.values("exam_answers")[:1]),
            standing_answers=Subquery(standing.values("answers")[:1]),
            lease_expires_at=Subquery(
                Assignment.objects.filter(
                    worker=OuterRef("pk"),
                    project_id=project_id,
                    status=Assignment.Status.LEASED,
                ).values("expires_at")[:1]
            ),
        )
        .first()
    )
