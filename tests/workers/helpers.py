"""Small helpers shared by the worker UI tests."""

from datetime import timedelta

from django.utils import timezone

from tasks.routing import answer_submit, assignment_claim
from workers.models import WorkerStanding
from workers.services import standing_block


def answer(worker, project, label="pos", seconds=5.0):
    """Claim and answer one item through the services, taking ``seconds``."""
    t0 = timezone.now() - timedelta(seconds=seconds + 1)
    lease = assignment_claim(worker=worker, project=project, now=t0)
    assert lease is not None
    answer_submit(assignment=lease, worker=worker, label=label, now=t0 + timedelta(seconds=seconds))
    return lease


def block(worker, project, reason="Accuracy on control questions 40% is below 60%."):
    standing, _ = WorkerStanding.objects.get_or_create(
        worker=worker, project=project, defaults={"state": WorkerStanding.State.QUALIFIED}
    )
    standing_block(standing=standing, reason=reason, rule="gold_accuracy")
    return standing
