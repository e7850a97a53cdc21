"""Queueing jobs so that a broker outage never fails a request or loses work.

Work is *recorded* in the database before it is queued (for a refit: the project's
``answers_since_refit`` counter), and the periodic jobs pick up whatever is recorded. So when the
broker cannot take a job, the request that caused it still succeeds, a warning says what was
deferred, and the next periodic pass does the work once the broker is back.
"""

import logging

from django.db import transaction

logger = logging.getLogger("hitl_platform.jobs")


def enqueue(job, *args) -> bool:
    """Queue ``job(*args)`` now; returns False (and logs) when the broker is unreachable."""
    try:
        job.delay(*args)
    except Exception as exc:  # kombu raises several types; none may reach the user
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
