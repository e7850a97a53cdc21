"""The process configuration: refuses to start unsafe, and production checks are clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
# The HTTPS items that `check --deploy` raises because TLS is terminated by the proxy in front of
# the application; README.md ("Production") says how to turn them on.
DOCUMENTED_HTTPS_ITEMS = {"security.W004", "security.W008"}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_mode_refuses_to_start_without_secret_key():
    result = manage("check", DEBUG="false")
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "hitl-platform: SECRET_KEY must be set when DEBUG is off (refusing to start)."
    )


def test_a_prepare_threshold_that_is_not_a_number_refuses_to_start():
    result = manage(
        "check", DATABASE_URL="postgres://hitl@127.0.0.1:5432/hitl", DB_PREPARE_THRESHOLD="often"
    )
    assert result.returncode != 0
    assert "DB_PREPARE_THRESHOLD must be a whole number of runs or 'off', not 'often'." in (
        result.stderr
    )


def test_deploy_check_reports_only_documented_https_items():
    result = manage(
        "check",
        "--deploy",
        DEBUG="false",
        SECRET_KEY="x" * 64 + "-not-a-real-secret-but-long-enough",
        ALLOWED_HOSTS="labels.example.com",
    )
    output = result.stdout + result.stderr
    found = {
        word.strip("():") for word in output.split() if word.startswith(("security.", "(security."))
    }
    assert found <= DOCUMENTED_HTTPS_ITEMS, output
    assert result.returncode == 0, output


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_make_run_starts_the_in_process_jobs_without_breaking_startup():
    """`make run` sets HITL_IN_PROCESS_JOBS=1; the scheduler thread starts from AppConfig.ready()
    (in runserver's serving child, RUN_MAIN=true) and must wait for Django to finish loading."""
    result = manage("check", HITL_IN_PROCESS_JOBS="1", RUN_MAIN="true", CELERY_BROKER_URL="")
    assert result.returncode == 0, result.stderr
    assert "periodic jobs run in-process" in result.stderr
    assert "Traceback" not in result.stderr
