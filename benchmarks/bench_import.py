"""Import speed: a 100,000-row CSV into a fresh database, parse + validate + bulk insert.

    python benchmarks/bench_import.py                    # SQLite (a temporary WAL file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hitl python benchmarks/bench_import.py

Creates a throwaway test database, prints each stage's time and a Markdown row for
docs/benchmarks.md. Goal: under 30 s on SQLite and on PostgreSQL.
"""

import argparse
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitl_platform.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from tasks.importing import parse_items  # noqa: E402
from tasks.models import Project  # noqa: E402
from tasks.services import items_import  # noqa: E402


def make_csv(rows: int) -> bytes:
    lines = ["external_id,gold_label,text,source"]
    for n in range(rows):
        gold = ("pos", "neg")[n % 2] if n % 10 == 0 else ""
        lines.append(
            f'item-{n:07d},{gold},"Review number {n}: the plot, the cast and the pacing are all discussed here at some length.",web'
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    db = settings.DATABASES["default"]
    tmp = tempfile.TemporaryDirectory()
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
    print(f"[1/4] creating a fresh {connection.vendor} database…", file=sys.stderr)
    old = setup_databases(verbosity=0, interactive=False)
    try:
        owner = get_user_model().objects.create_user("bench-requester")
        project = Project.objects.create(
            owner=owner,
            name="bench",
            labels=["pos", "neg"],
            reward=Decimal("0.01"),
            budget=Decimal("1000"),
        )
        print(f"[2/4] generating {args.rows:,} rows…", file=sys.stderr)
        data = make_csv(args.rows)
        print(f"[3/4] parsing and validating {len(data) / 1e6:.1f} MB…", file=sys.stderr)
        t0 = time.perf_counter()
        parsed = parse_items(data, fmt="csv", labels=project.labels)
        parse_s = time.perf_counter() - t0
        assert parsed.ok, parsed.errors[:3]
        print("[4/4] importing (parse + validate + bulk insert, one transaction)…", file=sys.stderr)
        t0 = time.perf_counter()
        count = items_import(project=project, data=data, fmt="csv")
        total_s = time.perf_counter() - t0
        assert count == args.rows == project.items.count()
    finally:
        teardown_databases(old, verbosity=0)
        tmp.cleanup()
    print(
        f"| {connection.vendor} | {args.rows:,} | {len(data) / 1e6:.1f} MB | {parse_s:.2f} s | {total_s:.2f} s | {args.rows / total_s:,.0f} rows/s |"
    )


if __name__ == "__main__":
    main()
