"""After the broker failed, requests defer their jobs at once instead of each waiting for the
broker's connection timeout; the broker is tried again after the backoff."""

from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError

from aggregation.jobs import projects_refit_job
from hitl_platform import jobs
from hitl_platform.celery import app as celery_app

pytestmark = pytest.mark.faults


def test_a_failed_broker_is_not_tried_again_until_the_backoff_is_over(monkeypatch, caplog):
    celery_app.conf.task_always_eager = False  # restored by the autouse _jobs_run_in_process
    monkeypatch.setattr(jobs, "_broker_down_until", 0.0)
    clock = [1000.0]
    monkeypatch.setattr(jobs, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    tries = []

    def down(*args):
        tries.append(args)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(projects_refit_job, "delay", down)
    assert jobs.enqueue(projects_refit_job) is False
    assert jobs.enqueue(projects_refit_job) is False
    assert len(tries) == 1  # the second request did not wait for the dead broker
    assert caplog.text.count("deferred to the next periodic pass") == 2

    clock[0] += jobs.BROKER_BACKOFF_SECONDS + 1
    monkeypatch.setattr(projects_refit_job, "delay", lambda *args: tries.append(args))
    assert jobs.enqueue(projects_refit_job) is True  # the broker is back: tried and used
    assert len(tries) == 2


def test_eager_jobs_never_open_the_backoff(monkeypatch):
    """Eager jobs (no broker) run in the process: a failing one says nothing about a broker."""
    monkeypatch.setattr(jobs, "_broker_down_until", 0.0)
    celery_app.conf.task_always_eager = True

    def fails(*args):
        raise RuntimeError("the job itself failed")

    monkeypatch.setattr(projects_refit_job, "delay", fails)
    assert jobs.enqueue(projects_refit_job) is False
    assert jobs._broker_down_until == 0.0
