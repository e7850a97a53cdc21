"""Celery jobs of the requester's side. They take ids or nothing, and call a service."""

from celery import shared_task

from .approval import answers_approve_due, earnings_mature
from .models import Project
from .routing import assignments_expire


@shared_task(bind=True, max_retries=3, default_retry_delay=10, acks_late=True)
def assignments_expire_job(self) -> int:
    return assignments_expire()


@shared_task(bind=True, max_retries=3, default_retry_delay=60, acks_late=True, time_limit=1800)
def answers_approve_job(self) -> int:
    """Apply every active or paused project's approval policy to its submitted answers."""
    approved = 0
    for project in Project.objects.exclude(status=Project.Status.DRAFT):
        approved += answers_approve_due(project=project)[0]
    return approved


@shared_task(bind=True, max_retries=3, default_retry_delay=60, acks_late=True)
def earnings_mature_job(self) -> int:
    return earnings_mature()
