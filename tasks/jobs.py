"""Celery jobs of the requester's side. They take ids or nothing, and call a service."""

from celery import shared_task

from .routing import assignments_expire


@shared_task(bind=True, max_retries=3, default_retry_delay=10, acks_late=True)
def assignments_expire_job(self) -> int:
    return assignments_expire()
