"""Report speed: the manager's report of a project with 100,000 items and 500,000 answers.

    python benchmarks/bench_report.py                                  # SQLite (temporary file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hitl python benchmarks/bench_report.py

Builds a throwaway database with one project: 100,000 items (90% final, 2% with audit labels),
500 workers with standings, 500,000 approved answers and their ledger rows spread over 30 days.
Then times ``project_report`` and the whole HTML page (charts included) through Django's test
client, best of 5. Goal: under 1 s.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_platform.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.models import LedgerEntry  # noqa: E402
from reports.selectors import project_report  # noqa: E402
from tasks.models import Assignment, Item, Project  # noqa: E402
from workers.models import Worker, WorkerStanding  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(n_items: int, n_answers: int, n_workers: int) -> Project:
    rng = random.Random(7)
    User = get_user_model()
    owner = User.objects.create_user("bench-owner", is_staff=True, is_superuser=True)
    reward = Decimal("0.0200")
    project = Project.objects.create(
        owner=owner,
        name="report bench",
        labels=["pos", "neg"],
        reward=reward,
        budget=Decimal("1000000"),
        status="active",
    )
    log(f"  {n_workers} workers…")
    users = User.objects.bulk_create(
        [User(username=f"w{k}") for k in range(n_workers)], batch_size=2000
    )
    workers = Worker.objects.bulk_create([Worker(user=u) for u in users], batch_size=2000)
    WorkerStanding.objects.bulk_create(
        [
            WorkerStanding(
                project=project,
                worker=w,
                state="qualified",
                answers=n_answers // n_workers,
                estimated_accuracy=rng.uniform(0.6, 0.95),
                gold_accuracy=rng.uniform(0.5, 1.0),
                gold_answers=20,
            )
            for w in workers
        ],
        batch_size=2000,
    )
    log(f"  {n_items:,} items…")
    start = timezone.now() - timedelta(days=30)
    items = []
    for k in range(n_items):
        final = k % 10 != 0
        label = rng.choice(["pos", "neg"])
        items.append(
            Item(
                project=project,
                external_id=f"i{k}",
                payload={"text": f"item {k}"},
                status="final" if final else "open",
                finalized_on=(start + timedelta(days=k % 30)).date() if final else None,
                final_label=label if final else "",
                label_source=("crowd" if k % 7 else "model") if final else "",
                confidence=rng.uniform(0.8, 1.0) if final else rng.uniform(0.5, 0.8),
                audit_label=(label if rng.random() < 0.9 else "neg") if k % 50 == 0 else "",
                answers_count=n_answers // n_items,
            )
        )
    Item.objects.bulk_create(items, batch_size=5000)
    item_ids = list(Item.objects.filter(project=project).values_list("pk", flat=True))
    log(f"  {n_answers:,} answers and their ledger rows…")
    field = LedgerEntry._meta.get_field("created_at")
    field.auto_now_add = False  # this script writes 30 days of history at once
    per_item = n_answers // n_items
    batch_a = []

    def flush(batch):
        created = Assignment.objects.bulk_create(batch, batch_size=5000)
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    movement="approve",
                    debit="reserved",
                    debit_owner=project.pk,
                    credit="pending",
                    credit_owner=a.worker_id,
                    amount=reward,
                    project=project,
                    worker_id=a.worker_id,
                    assignment_id=a.pk,
                    created_at=a.submitted_at,
                    day=a.submitted_at.date(),
                )
                for a in created
            ],
            batch_size=5000,
        )

    for k in range(n_answers):
        item = item_ids[k // per_item]
        worker = workers[(k * 7919) % n_workers]
        when = start + timedelta(days=(k * 30) // n_answers, seconds=k % 86_000)
        batch_a.append(
            Assignment(
                project=project,
                item_id=item,
                worker=worker,
                status="approved",
                kind="task",
                label=rng.choice(["pos", "neg"]),
                reward=reward,
                leased_at=when,
                expires_at=when + timedelta(minutes=10),
                submitted_at=when,
                decided_at=when,
                seconds_spent=7.0,
            )
        )
        if len(batch_a) == 20_000:
            flush(batch_a)
            batch_a = []
            if (k + 1) % 100_000 == 0:
                log(f"    {k + 1:,}")
    if batch_a:
        flush(batch_a)
    Project.objects.filter(pk=project.pk).update(spent=reward * n_answers)
    return project


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=500)
    args = parser.parse_args()
    db = settings.DATABASES["default"]
    tmp = tempfile.TemporaryDirectory()
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
    log(f"creating a fresh {connection.vendor} database…")
    old = setup_databases(verbosity=0, interactive=False)
    try:
        t0 = time.perf_counter()
        project = build(args.items, args.answers, args.workers)
        log(f"  built in {time.perf_counter() - t0:.0f} s; timing…")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        selector, page = [], []
        client = Client()
        client.force_login(project.owner)
        for _ in range(5):
            t0 = time.perf_counter()
            report = project_report(project=project)
            selector.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            response = client.get(f"/reports/projects/{project.pk}/")
            page.append(time.perf_counter() - t0)
            assert response.status_code == 200 and b"<svg" in response.content
        assert report.answers == args.answers, (report.answers, args.answers)
    finally:
        teardown_databases(old, verbosity=0)
        tmp.cleanup()
    print(
        f"| {connection.vendor} | {args.items:,} | {args.answers:,} | {min(selector) * 1000:.0f} ms | {min(page) * 1000:.0f} ms | {len(report.daily)} days, {len(report.workers)} workers |"
    )


if __name__ == "__main__":
    main()
