"""Celery jobs of the money side. They take plain values, and call a service."""

from celery import shared_task

from hitl_platform.jobs import RETRY_ON_DATABASE_ERROR

from .services import payouts_run


@shared_task(bind=True, acks_late=True, time_limit=1800, **RETRY_ON_DATABASE_ERROR)
def payouts_run_job(self, reference: str = "") -> int:
    """Pay out every worker's positive available balance; returns how many payouts it made.

    ``payouts_run``: one transaction per worker, so a run killed half-way leaves the workers it
    paid paid and the rest for the next run, and no run, repeat or retry can pay a balance twice.
    The admin's *Pay out available balances* runs the same service and hands back the CSV.
    """
    return len(payouts_run(reference=reference)[1])
