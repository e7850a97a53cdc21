"""Backup and restore as docs/operations.md tells operators to do it: ``pg_dump`` of a live
platform, ``pg_restore`` into an empty database, and everything comes back, money included."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from billing.services import payout_create
from tasks.approval import answer_decide
from tasks.routing import answer_submit, assignment_claim

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not shutil.which("pg_dump") or not shutil.which("pg_restore"),
        reason="needs pg_dump and pg_restore (apt-get install postgresql-client)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
TABLES = [
    "tasks_project",
    "tasks_item",
    "tasks_assignment",
    "workers_workerstanding",
    "billing_ledgerentry",
    "billing_payout",
    "audit_auditevent",
]


def _url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row (in primary-key order) of the tables that matter."""
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))"  # noqa: S608
                f" FROM {table} t"
            ).fetchone()
            for table in TABLES
        }


@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_round_trip_restores_every_answer_and_every_cent(
    live_project, make_worker, requester, tmp_path
):
    project = live_project(tasks=6, min_overlap=1, max_overlap=2)
    workers = [make_worker() for _ in range(3)]
    for w in workers:
        for _ in range(2):
            lease = assignment_claim(worker=w, project=project)
            answer_submit(assignment=lease, worker=w, label="pos")
            answer_decide(assignment=lease, approve=True, actor=requester)
    assignment_claim(worker=make_worker(), project=project)  # a live lease: reserved money
    payout_create(worker=workers[0], actor=requester)  # earnings mature later: may pay nothing

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored_{uuid.uuid4().hex[:6]}"
    dump = tmp_path / "hitl.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", _url(source)], check=True, timeout=120
    )
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={_url(restored)}", str(dump)],
            check=True,
            timeout=120,
        )
        assert _fingerprint(_url(restored)) == _fingerprint(_url(source))
        # The restored database is at the code's schema: migrate has nothing to do.
        check = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--check"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": _url(restored)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        with psycopg.connect(_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
