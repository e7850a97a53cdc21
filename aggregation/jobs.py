"""Celery jobs of the consensus side (Django glue, like ``services``)."""

import logging
from contextlib import contextmanager

from celery import shared_task
from django.db import DatabaseError, connection
from django.db.models import F

from hitl_platform.jobs import RETRY_ON_DATABASE_ERROR, enqueue
from tasks.models import Project
from workers.services import standings_apply_rules

from .services import project_refit
from .training import project_train, training_due

logger = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory lock a refit job holds on its project (the second is
#: the project's id); any constant not used by another lock of this database.
REFIT_LOCK_CLASS = 0x5EF17


@contextmanager
def refit_lock(project_id: int):
    """Yields whether this process may refit the project: on PostgreSQL, whether it got the
    project's session advisory lock, held until the block ends; elsewhere always True.

    The database drops a session's locks when its connection closes, so a worker killed mid-refit
    (``kill -9``, the OOM killer) releases the lock at once, while its compare-and-swap claim
    (``refit_started_at``, see ``project_refit``) would stay for ``REFIT_TIMEOUT``.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [REFIT_LOCK_CLASS, project_id])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_unlock(%s, %s)", [REFIT_LOCK_CLASS, project_id]
                    )
            except DatabaseError:  # the connection is gone, and its lock with it
                pass


def _refit_came_due(project_id: int) -> bool:
    """Whether ``refit_every`` answers came in since the last refit. Submits queue a refit once,
    at the crossing; one queued while a job held the project's lock (a refit, a training) found
    it taken and left, so the job that held it queues the next refit."""
    return Project.objects.filter(pk=project_id, answers_since_refit__gte=F("refit_every")).exists()


@shared_task(bind=True, acks_late=True, time_limit=1800, **RETRY_ON_DATABASE_ERROR)
def project_refit_job(self, project_id: int) -> None:
    """Refit one project's worker model, re-decide its items, apply its blocking rules, and
    retrain its pre-labeler when enough new labels arrived.

    Refits run only through this job, each under ``refit_lock``: a job holding the lock knows
    that a refit claim still on the project was left by a process that died, and frees it, so a
    killed refit is redone by the next job (the redelivery or the periodic pass), not 30 minutes
    later.
    """
    follow_up = False
    with refit_lock(project_id) as mine:
        if not mine:
            logger.info("refit of project %s skipped: another job is refitting it", project_id)
            return
        if connection.vendor == "postgresql" and Project.objects.filter(
            pk=project_id, refit_started_at__isnull=False
        ).update(refit_started_at=None):
            logger.warning(
                "refit of project %s: freed the claim of a refit whose process died", project_id
            )
        project = Project.objects.get(pk=project_id)
        if project_refit(project=project) is not None:
            standings_apply_rules(project=project)
            if training_due(project=project):
                project_train(project=project)
            follow_up = _refit_came_due(project_id)
    if follow_up:
        enqueue(project_refit_job, project_id)


@shared_task(bind=True, acks_late=True, time_limit=1800, **RETRY_ON_DATABASE_ERROR)
def project_train_job(self, project_id: int) -> None:
    """Train the project's pre-labeler if enough labels arrived (``training_due``).

    Queued by submits as the labels they settle reach a training's count (``training_check_due``),
    by publishing a project with the model on, by turning the model on and by gold imported into
    an active project, so the model learns as labels arrive rather than at the next refit (a
    refit checks too). Under the refit's lock: a refit running now checks ``training_due`` itself
    when it ends, so this job leaves the project to it; and a refit that came due meanwhile is
    queued when the training ends.
    """
    with refit_lock(project_id) as mine:
        if not mine:
            logger.info("training of project %s left to the refit running now", project_id)
            return
        project = Project.objects.get(pk=project_id)
        if training_due(project=project):
            project_train(project=project)
        refit_due = _refit_came_due(project_id)
    if refit_due:
        enqueue(project_refit_job, project_id)


@shared_task(bind=True, acks_late=True, **RETRY_ON_DATABASE_ERROR)
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
