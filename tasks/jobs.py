"""Celery jobs of the requester's side. They take ids or nothing, and call a service."""

from celery import shared_task

from hitl_platform.jobs import RETRY_ON_DATABASE_ERROR

from .approval import answers_approve_due, earnings_mature
from .models import Project
from .routing import assignments_expire


@shared_task(bind=True, acks_late=True, **RETRY_ON_DATABASE_ERROR)
def assignments_expire_job(self) -> int:
    return assignments_expire()


@shared_task(bind=True, acks_late=True, time_limit=1800, **RETRY_ON_DATABASE_ERROR)
def answers_approve_job(self) -> int:
    """Apply every active or paused project's approval policy to its submitted answers."""
    approved = 0
    for project in Project.objects.exclude(status=Project.Status.DRAFT):
        approved += answers_approve_due(project=project)[0]
    return approved


@shared_task(bind=True, acks_late=True, **RETRY_ON_DATABASE_ERROR)
def earnings_mature_job(self) -> int:
    return earnings_mature()
