"""Redis stopped during a burst of submits: every submit is stored, and the deferred work runs
once Redis is back (a private ``redis-server``, never the machine's shared one)."""

import logging
import time

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from aggregation.jobs import project_refit_job, projects_refit_job
from tasks.models import Assignment
from workers.models import WorkerStanding

from .conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.celery_worker]


def api_client(worker) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=worker.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.mark.django_db(transaction=True)
def test_submits_while_redis_is_down_are_stored_and_their_refit_runs_when_it_is_back(
    live_project, make_worker, broker, celery_workers, caplog
):
    # 12 answers before the outage, 36 during it: the 20th answer, in the outage, queues the refit.
    project = live_project(tasks=60, min_overlap=1, max_overlap=1, refit_every=20)
    project.refresh_from_db()
    workers = [make_worker() for _ in range(6)]
    clients = [api_client(w) for w in workers]
    confirmed: dict[int, str] = {}
    slowest = 0.0

    def burst(rounds: int) -> None:
        nonlocal slowest
        for _ in range(rounds):
            for n, client in enumerate(clients):
                started = time.monotonic()
                claim = client.post(f"/api/v1/projects/{project.pk}/assignments/")
                assert claim.status_code == 201, claim.content
                label = project.labels[n % 2]
                submit = client.post(
                    f"/api/v1/assignments/{claim.json()['id']}/submit/", {"label": label}
                )
                assert submit.status_code == 200, submit.content
                slowest = max(slowest, time.monotonic() - started)
                confirmed[claim.json()["id"]] = label

    # Redis up, no worker yet: nothing is due yet ...
    burst(rounds=2)
    assert broker.ping()
    # ... then it stops (this Redis keeps nothing on disk), and the refit falls due.
    broker.stop()
    outage = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="hitl_platform.jobs"):
        burst(rounds=6)
    outage = time.monotonic() - outage
    assert "deferred to the next periodic pass" in caplog.text
    # Only the first try against the dead broker waits for its connection timeout (2 s); the
    # others defer at once (hitl_platform.jobs.BROKER_BACKOFF_SECONDS).
    assert slowest < 5, f"a submit took {slowest:.1f} s while the broker was down"
    assert outage < 15, f"36 claims and submits took {outage:.1f} s while the broker was down"

    # Every submit is stored, once, with its label; the work to do is recorded.
    answered = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    assert dict(answered.values_list("pk", "label")) == confirmed
    assert len(confirmed) == 48
    project.refresh_from_db()
    assert project.answers_since_refit == 48 and project.refitted_at is None

    # Redis back (empty), a worker on it, and the periodic pass queued from this process as beat
    # would (the pooled connection to the old Redis is replaced): the recorded refit runs.
    broker.start()
    celery_workers.start()

    def periodic_pass() -> bool:
        try:
            projects_refit_job.delay()
        except Exception:
            return False
        return True

    wait_for(periodic_pass, 30, "this process to reach the broker again", interval=0.5)

    def refitted():
        project.refresh_from_db()
        return project.refitted_at is not None and project.answers_since_refit == 0

    wait_for(refitted, 60, "the deferred refit")
    assert f"Task {project_refit_job.name}[" in celery_workers.output()
    assert not WorkerStanding.objects.filter(
        project=project, worker__in=workers, estimated_accuracy__isnull=True
    ).exists()
