"""The Celery application. Jobs live in each app's ``jobs.py`` (not ``tasks.py``: ``tasks`` is an app)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_platform.settings")

app = Celery("hitl_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
