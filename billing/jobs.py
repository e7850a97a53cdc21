"""Celery jobs of the money side. They take plain values, and call a service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from workers.models import Worker

from .models import Account
from .selectors import all_balances
from .services import payout_create


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=30,
    time_limit=1800,
)
def payouts_run_job(self, reference: str = "") -> int:
    """Pay out every worker's positive available balance; returns how many payouts it made.

    One transaction per worker (``payout_create`` locks the worker row, reads the balance and pays
    it), so a run killed half-way leaves the workers it paid paid and the rest for the next run,
    and no run, repeat or retry can pay a balance twice: a paid balance is zero. The admin's
    *Pay out available balances* does the same synchronously and hands back the CSV.
    """
    reference = reference or f"run-{timezone.now():%Y%m%d-%H%M%S}"
    payable = [
        owner
        for (kind, owner), amount in all_balances().items()
        if kind == Account.AVAILABLE and amount > 0
    ]
    paid = 0
    for worker in Worker.objects.filter(pk__in=payable).order_by("pk"):
        if payout_create(worker=worker, reference=reference) is not None:
            paid += 1
    return paid
