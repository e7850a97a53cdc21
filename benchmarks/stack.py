"""What the HTTP benchmarks share: a fresh PostgreSQL database, the environment of a
production-like stack (DEBUG off, Celery on Redis), gunicorn, a Celery worker and beat as
subprocesses, and the correctness checks run in the database afterwards.

Used by ``bench_assignment.py`` and ``bench_soak.py``. The check functions need Django set up on
the benchmark's database (``django_script`` runs code that way in a subprocess).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def stack_env(db_name: str, redis: str, **extra: str) -> dict:
    """The environment of every process of the stack: DEBUG off, the benchmark's database."""
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{db_name}",
        "CELERY_BROKER_URL": redis,
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
        **extra,
    }


def fresh_database(name: str) -> None:
    import psycopg  # noqa: PLC0415 - only the parent process needs it

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def django_script(env: dict, code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter with Django set up on ``env``'s database."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hitl_platform.settings'); django.setup()\n"
            + code,
            *args,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _popen(env: dict, args: list[str], log_file: Path | None) -> subprocess.Popen:
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out, stderr=out
    )


def start_gunicorn(
    env: dict, port: int, *, workers: int = 4, log_file: Path | None = None
) -> subprocess.Popen:
    """gunicorn with ``workers`` sync workers on 127.0.0.1:``port`` (the Popen is the master)."""
    return _popen(
        env,
        [
            "gunicorn",
            "hitl_platform.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        log_file,
    )


def start_celery_worker(env: dict, *, log_file: Path | None = None) -> subprocess.Popen:
    return _popen(
        env,
        [
            "celery",
            "-A",
            "hitl_platform",
            "worker",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        log_file,
    )


def start_beat(env: dict, *, log_file: Path | None = None) -> subprocess.Popen:
    """Celery beat with the database scheduler of settings (the schedule lives in PostgreSQL)."""
    return _popen(env, ["celery", "-A", "hitl_platform", "beat", "--loglevel=WARNING"], log_file)


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_for_server(port: int) -> None:
    for _ in range(150):
        try:
            if get_status(port, "/healthz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


# --- checks (Django set up) ------------------------------------------------------------------


def answer_violations(project_id: int, accepted: list[int]) -> dict:
    """Every accepted submit stored exactly once, nothing stored that was not accepted, no worker
    twice on an item, no item over its maximum overlap, item counters equal to the rows,
    reserved money equal to what live leases and unpaid answers hold, spent + reserved within
    the budget. Returns ``{"answers": stored answers, "violations": {name: value}}``."""
    from collections import Counter  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    from django.db.models import Count, Q, Sum  # noqa: PLC0415

    from tasks.models import Assignment, Item, Project  # noqa: PLC0415

    project = Project.objects.get(pk=project_id)
    answered = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    ids = set(answered.values_list("pk", flat=True))
    seen = set(accepted)
    v: dict = {}
    v["accepted_not_stored"] = len(seen - ids)
    v["stored_not_accepted"] = len(ids - seen)
    v["accepted_twice"] = len(accepted) - len(seen)
    items = Item.objects.filter(project=project).annotate(
        a=Count("assignments", filter=Q(assignments__status__in=Assignment.ANSWERED)),
        l=Count("assignments", filter=Q(assignments__status="leased")),
    )
    v["items_over_max_overlap"] = sum(
        1 for i in items if not i.gold_label and i.a + i.l > project.max_overlap
    )
    v["item_counters_wrong"] = sum(
        1 for i in items if (i.answers_count, i.leases_count) != (i.a, i.l)
    )
    pairs = Counter(answered.values_list("item_id", "worker_id"))
    v["worker_twice_on_item"] = sum(1 for c in pairs.values() if c > 1)
    held = Assignment.objects.filter(project=project, status__in=["leased", "submitted"]).aggregate(
        s=Sum("reward")
    )["s"] or Decimal(0)
    v["reserved_mismatch"] = str(project.reserved - held)
    v["over_budget"] = project.spent + project.reserved > project.budget
    return {"answers": len(ids), "violations": v}


def ledger_violations(project_id: int) -> dict:
    """The ledger against the counters, to the cent: ``ledger_mismatches`` (funded = budget,
    approvals = spent, reserved and budget balances = counters), every account summing to zero,
    workers' earnings (pending + available + paid) = spent = rewards of approved answers. Assumes
    the database holds this one project (the benchmark's own)."""
    from decimal import Decimal  # noqa: PLC0415

    from django.db.models import Sum  # noqa: PLC0415

    from billing.models import Account  # noqa: PLC0415
    from billing.selectors import all_balances, ledger_mismatches  # noqa: PLC0415
    from tasks.models import Assignment, Project  # noqa: PLC0415

    project = Project.objects.get(pk=project_id)
    balances = all_balances()
    workers = (Account.PENDING, Account.AVAILABLE, Account.PAID)
    earned = sum((b for (kind, _), b in balances.items() if kind in workers), Decimal(0))
    approved = Assignment.objects.filter(project=project, status="approved").aggregate(
        s=Sum("reward")
    )["s"] or Decimal(0)
    figures = {
        "budget": str(project.budget),
        "spent": str(project.spent),
        "reserved": str(project.reserved),
        "workers_earned": str(earned),
        "approved_rewards": str(approved),
        "accounts_sum": str(sum(balances.values(), Decimal(0))),
    }
    v = {"ledger_mismatches": ledger_mismatches(project=project)}
    if sum(balances.values(), Decimal(0)) != 0:
        v["accounts_do_not_sum_to_zero"] = figures["accounts_sum"]
    if not (earned == project.spent == approved):
        v["earned_spent_approved_differ"] = f"{earned} / {project.spent} / {approved}"
    return {"ledger": figures, "violations": v}
