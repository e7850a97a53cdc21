"""Periodic jobs without Celery beat, for the embedded default (no broker).

In production Celery beat runs ``CELERY_BEAT_SCHEDULE``. On a laptop (``make run``) there is no
beat, so a daemon thread in the web process runs the same schedule in-process. Nothing depends on
it for correctness (a lease past its expiry is expired when used; refits also follow every N new
answers); it keeps the tables tidy and the worker model fresh.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections

from .celery import app

logger = logging.getLogger(__name__)


class InProcessScheduler:
    def __init__(self, schedule: dict, clock: Callable[[], float] = time.monotonic) -> None:
        self.schedule = schedule
        self.clock = clock
        self._jobs_loaded = False
        self.next_run = {
            name: clock() + float(entry["schedule"]) for name, entry in schedule.items()
        }

    def run_due(self) -> list[str]:
        """Run every job whose time has come; returns their names. A failing job is logged."""
        if not self._jobs_loaded:
            app.loader.import_default_modules()  # registers every app's jobs, as a worker does
            self._jobs_loaded = True
        ran = []
        for name, entry in self.schedule.items():
            now = self.clock()
            if now < self.next_run[name]:
                continue
            self.next_run[name] = now + float(entry["schedule"])
            try:
                app.tasks[entry["task"]].apply(throw=True)
            except Exception:
                logger.exception(
                    "periodic job %s failed; it runs again in %ss", name, entry["schedule"]
                )
            ran.append(name)
        return ran

    def loop(self, tick: float = 5.0) -> None:
        while not apps.ready:  # started from AppConfig.ready(): let Django finish loading first
            time.sleep(0.5)
        while True:
            close_old_connections()  # a long-lived thread must not keep a dead connection
            self.run_due()
            time.sleep(tick)


def start_in_process_scheduler() -> threading.Thread | None:
    """Start the scheduler thread when jobs run in-process (no broker); otherwise beat's job."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    scheduler = InProcessScheduler(settings.CELERY_BEAT_SCHEDULE)
    thread = threading.Thread(target=scheduler.loop, name="periodic-jobs", daemon=True)
    thread.start()
    logger.info("periodic jobs run in-process: %s", ", ".join(settings.CELERY_BEAT_SCHEDULE))
    return thread
