"""A real Celery worker process on the real broker picks up a job and its effect lands in the database."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from billing.selectors import ledger_mismatches
from tasks.jobs import assignments_expire_job
from tasks.routing import assignment_claim

from .conftest import is_postgres

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL"),
        reason="needs a broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0 (CI does)",
    ),
]


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def celery_worker_process():
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _test_database_url()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hitl_platform",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue
    proc.terminate()
    try:
        output, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    print(output[-4000:])


@pytest.mark.skipif(
    not is_postgres(), reason="a worker process cannot share SQLite's in-memory test database"
)
def test_a_real_worker_expires_stale_leases(
    transactional_db, live_project, worker, celery_worker_process
):
    project = live_project(tasks=1)
    lease = assignment_claim(
        worker=worker, project=project, now=timezone.now() - timedelta(hours=1)
    )
    assignments_expire_job.apply_async(queue=celery_worker_process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lease.refresh_from_db()
        if lease.status == "expired":
            break
        time.sleep(0.25)
    assert lease.status == "expired", "the worker did not run the job within 60 s"
    project.refresh_from_db()
    assert project.reserved == 0 and ledger_mismatches(project=project) == []
