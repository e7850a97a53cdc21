"""Reads about workers: their standing and earnings, as the worker sees them."""

from decimal import Decimal

from django.db.models import Q, Sum

from hitl_platform import money

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
