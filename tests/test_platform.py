"""Health endpoints and the in-process periodic jobs of the embedded default."""

from datetime import timedelta

from django.utils import timezone

from hitl_platform.periodic import InProcessScheduler
from tasks.models import Assignment
from tasks.routing import assignment_claim


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
