"""Health endpoints and the in-process periodic jobs of the embedded default."""

from datetime import timedelta

from django.db import OperationalError as DatabaseOperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

import tasks.routing
from aggregation.jobs import project_refit_job, projects_refit_job
from hitl_platform.periodic import InProcessScheduler
from tasks.models import Assignment
from tasks.routing import answer_submit, assignment_claim


def test_healthz_and_readyz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_in_process_scheduler_runs_jobs_when_due(live_project, worker, settings):
    project = live_project(tasks=2)
    lease = assignment_claim(
        worker=worker, project=project, now=timezone.now() - timedelta(hours=1)
    )
    now = [0.0]
    scheduler = InProcessScheduler(settings.CELERY_BEAT_SCHEDULE, clock=lambda: now[0])
    assert scheduler.run_due() == []
    now[0] = 61.0
    assert scheduler.run_due() == ["expire-leases"]
    assert Assignment.objects.get(pk=lease.pk).status == "expired"
    now[0] = 301.0
    assert sorted(scheduler.run_due()) == ["approve-answers", "expire-leases", "refit-projects"]


def test_a_broker_outage_defers_the_refit_and_fails_no_submit(
    live_project, make_worker, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    project = live_project(tasks=4, refit_every=2)
    worker = make_worker()

    def down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(project_refit_job, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            lease = assignment_claim(worker=worker, project=project)
            answer_submit(assignment=lease, worker=worker, label="pos")
    assert Assignment.objects.filter(status="submitted").count() == 2
    assert "deferred to the next periodic pass" in caplog.text
    project.refresh_from_db()
    assert project.answers_since_refit == 2 and project.refitted_at is None
    monkeypatch.undo()  # the broker is back: the periodic pass does the recorded work
    projects_refit_job.delay()
    project.refresh_from_db()
    assert project.refitted_at is not None and project.answers_since_refit == 0


def test_a_lost_database_connection_is_a_503_with_a_retry_hint_and_no_partial_write(
    live_project, worker, monkeypatch
):
    project = live_project(tasks=2)
    api = APIClient()
    api.force_authenticate(worker.user)
    lease = api.post(f"/api/v1/projects/{project.pk}/assignments/").json()

    def connection_lost(**kwargs):
        raise DatabaseOperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(tasks.routing, "_standing_count", connection_lost)
    response = api.post(
        f"/api/v1/assignments/{lease['id']}/submit/", {"label": "pos"}, format="json"
    )
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "retry" in response.json()["detail"]
    # The answer was stored inside the failed transaction: it must have been rolled back whole.
    stored = Assignment.objects.get(pk=lease["id"])
    assert stored.status == "leased" and stored.label == ""
    monkeypatch.undo()
    assert (
        api.post(
            f"/api/v1/assignments/{lease['id']}/submit/", {"label": "pos"}, format="json"
        ).status_code
        == 200
    )


def test_a_job_whose_database_went_away_is_retried_and_does_its_work(
    live_project, worker, monkeypatch
):
    """Every job retries on a lost database (``RETRY_ON_DATABASE_ERROR``): the lease expiry
    below meets a dropped connection once, runs again and expires the lease; an error that is
    not the database's is not retried (the periodic pass runs the job again)."""
    from tasks import jobs  # noqa: PLC0415

    project = live_project(tasks=2)
    lease = assignment_claim(
        worker=worker, project=project, now=timezone.now() - timedelta(hours=1)
    )
    real, calls = jobs.assignments_expire, []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseOperationalError("server closed the connection unexpectedly")
        return real()

    monkeypatch.setattr(jobs, "assignments_expire", flaky)
    # throw=False: what a worker does (the embedded default's scheduler re-raises and logs)
    assert jobs.assignments_expire_job.apply(throw=False).get() == 1
    assert len(calls) == 2
    assert Assignment.objects.get(pk=lease.pk).status == "expired"

    def broken():
        calls.append(1)
        raise ValueError("a bug")

    monkeypatch.setattr(jobs, "assignments_expire", broken)
    result = jobs.assignments_expire_job.apply(throw=False)
    assert isinstance(result.result, ValueError) and len(calls) == 3
