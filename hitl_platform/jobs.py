"""Queueing jobs so that a broker outage never fails a request or loses work.

Work is *recorded* in the database before it is queued (for a refit: the project's
``answers_since_refit`` counter), and the periodic jobs pick up whatever is recorded. So when the
broker cannot take a job, the request that caused it still succeeds, a warning says what was
deferred, and the next periodic pass does the work once the broker is back.

A try against a broker that is down costs the request ``CELERY_BROKER_CONNECTION_TIMEOUT`` (kombu
retries the connection until then), so after a failure this process stops trying for
``BROKER_BACKOFF_SECONDS`` and defers at once: a burst of submits during an outage stays fast.
"""

import logging
import time

from django.db import InterfaceError, OperationalError, transaction

logger = logging.getLogger("hitl_platform.jobs")

BROKER_BACKOFF_SECONDS = 15.0
_broker_down_until = 0.0  # time.monotonic() before which this process does not try the broker

# Every job retries on a database that went away (a restart, a failover, a dropped connection),
# three times, after 10, 20 and 40 s (no jitter: Celery's default would let every retry come at
# once); every job is safe to run again. Other errors are not retried: the periodic pass runs
# the job again.
RETRY_ON_DATABASE_ERROR = {
    "autoretry_for": (OperationalError, InterfaceError),
    "max_retries": 3,
    "retry_backoff": 10,
    "retry_jitter": False,
}


def enqueue(job, *args) -> bool:
    """Queue ``job(*args)`` now; returns False (and logs) when the broker is unreachable."""
    global _broker_down_until
    eager = job.app.conf.task_always_eager  # eager jobs run here and never touch a broker
    if not eager and time.monotonic() < _broker_down_until:
        logger.warning(
            "broker unreachable (failed in the last %.0f s): %s%s deferred to the next periodic pass",
            BROKER_BACKOFF_SECONDS,
            job.name,
            args,
        )
        return False
    try:
        job.delay(*args)
    except Exception as exc:  # kombu raises several types; none may reach the user
        if not eager:
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "broker unreachable (%s): %s%s deferred to the next periodic pass",
            exc.__class__.__name__,
            job.name,
            args,
        )
        return False
    return True


def enqueue_on_commit(job, *args) -> None:
    """Queue ``job(*args)`` once the current transaction commits (never on uncommitted rows)."""
    transaction.on_commit(lambda: enqueue(job, *args))
