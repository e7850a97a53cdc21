import os

from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "hitl_platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from . import logins  # noqa: F401, PLC0415 (connects the failed sign-in counter)

        # `make run` sets HITL_IN_PROCESS_JOBS=1; under runserver's autoreloader only the serving
        # child (RUN_MAIN=true) starts the scheduler, not the watcher process.
        if os.environ.get("HITL_IN_PROCESS_JOBS") == "1" and os.environ.get("RUN_MAIN") == "true":
            from .periodic import start_in_process_scheduler  # noqa: PLC0415 (needs loaded apps)

            start_in_process_scheduler()
