"""Celery jobs of the consensus side (Django glue, like ``services``)."""

from celery import shared_task

from hitl_platform.jobs import enqueue
from tasks.models import Project
from workers.services import standings_apply_rules

from .services import project_refit
from .training import project_train, training_due


@shared_task(bind=True, max_retries=3, default_retry_delay=30, acks_late=True, time_limit=1800)
def project_refit_job(self, project_id: int) -> None:
    """Refit one project's worker model, re-decide its items, apply its blocking rules, and
    retrain its pre-labeler when enough new labels arrived."""
    project = Project.objects.get(pk=project_id)
    if project_refit(project=project) is not None:
        standings_apply_rules(project=project)
        if training_due(project=project):
            project_train(project=project)


@shared_task(bind=True, acks_late=True)
def projects_refit_job(self) -> int:
    """Periodic: queue a refit of every active project that got answers since its last refit."""
    ids = list(
        Project.objects.filter(status=Project.Status.ACTIVE, answers_since_refit__gt=0).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        enqueue(project_refit_job, pk)
    return len(ids)
