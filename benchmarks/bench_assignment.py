"""Claim + submit throughput over HTTP: gunicorn on PostgreSQL, a bounded load generator on loopback.

    python benchmarks/bench_assignment.py                       # 10,000 and 100,000 items, 60 s each
    python benchmarks/bench_assignment.py --items 10000 --seconds 20
    python benchmarks/bench_assignment.py --in-process --items 10000   # CPU ms and queries per cycle

For each project size it builds a fresh database (``hitl_bench``), a published project with 1% gold
items (exam of 2, gold rate 5%), min/max overlap 2/3, and one crowd worker per simulated worker with
an API token; starts gunicorn (4 sync workers, DEBUG off) and a Celery worker on Redis for the
refits; then 32 simulated workers run claim-then-submit cycles through the REST API for the given
time. Afterwards it checks, in the database: no item over its maximum overlap, no worker twice on
an item, every accepted submit stored exactly once, item counters equal to the rows, reserved money
equal to what live leases and unpaid answers hold, and spent + reserved within the budget.
It also measures the ceiling of this stack: requests per second of ``/readyz`` (one query), and
reports cycles per second ÷ that ceiling, to compare runs made while the machine was faster or slower.

Two runs on one machine must not share a database, port or broker: set ``BENCH_DB``,
``BENCH_PORT`` and ``BENCH_REDIS`` (the run stops if its port is already taken).

Everything runs on this machine: the generator only talks to 127.0.0.1, with a bounded number of
requests and a deadline.
"""

import argparse
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import time
from pathlib import Path

from stack import (
    django_script,
    fresh_database,
    log,
    manage,
    stack_env,
    start_celery_worker,
    start_gunicorn,
    stop,
    wait_for_server,
)

PORT = int(os.environ.get("BENCH_PORT", "8765"))
DB_NAME = os.environ.get("BENCH_DB", "hitl_bench")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/5")
MAX_REQUESTS_PER_THREAD = 200_000


def env() -> dict:
    return stack_env(DB_NAME, REDIS)


SETUP = r"""
import json, sys
from decimal import Decimal
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from tasks.models import Project
from tasks.services import items_import, project_publish
from workers.services import worker_create
n_items, n_workers = int(sys.argv[1]), int(sys.argv[2])
owner = get_user_model().objects.create_user("bench-requester")
project = Project.objects.create(
    owner=owner, name="bench", labels=["pos", "neg"], reward=Decimal("0.0100"),
    budget=Decimal("1000000"), min_overlap=2, max_overlap=3, target_confidence=0.95,
    gold_rate=0.05, exam_size=2, exam_pass_accuracy=0.0, refit_every=2000,
    block_min_median_seconds=0, block_gold_accuracy=0, block_estimated_accuracy=0,
)
lines = ["external_id,gold_label,text"]
for n in range(n_items):
    gold = "pos" if n % 100 == 0 else ""
    lines.append(f"i{n},{gold},Item number {n}: is this sentence positive or negative?")
items_import(project=project, data="\n".join(lines).encode(), fmt="csv")
project_publish(project=project)
tokens = []
for w in range(n_workers):
    worker = worker_create(username=f"bench-worker-{w}", password="unused-" + "p" * 20)
    tokens.append(Token.objects.create(user=worker.user).key)
print(json.dumps({"project": project.pk, "tokens": tokens}))
"""

CHECK = r"""
import json, sys
from benchmarks.stack import answer_violations
print(json.dumps(answer_violations(int(sys.argv[1]), json.load(open(sys.argv[2])))))
"""


IN_PROCESS = r"""
import cProfile, json, os, pstats, sys, time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
project, tokens = int(sys.argv[1]), json.loads(sys.argv[2])
cycles, profile_path = int(sys.argv[3]), sys.argv[4]
clients = [Client(HTTP_AUTHORIZATION=f"Token {t}", SERVER_NAME="127.0.0.1") for t in tokens]
labels = ["pos", "neg"]

def cycle(n):
    c = clients[n % len(clients)]
    r = c.post(f"/api/v1/projects/{project}/assignments/", content_type="application/json")
    if r.status_code != 201:
        return r.status_code, None
    a = r.json()["id"]
    r2 = c.post(f"/api/v1/assignments/{a}/submit/", {"label": labels[n % 2]},
                content_type="application/json")
    return r.status_code, r2.status_code

for n in range(len(clients) * 3):  # warm up: every worker through its exam, caches filled
    cycle(n)
# Queries per request, on a sample (capturing adds its own cost, so it is kept apart).
claim_q, submit_q, statuses = [], [], {}
for n in range(40):
    c = clients[n % len(clients)]
    with CaptureQueriesContext(connection) as q1:
        r = c.post(f"/api/v1/projects/{project}/assignments/", content_type="application/json")
    if r.status_code == 201:
        claim_q.append(len(q1))
        with CaptureQueriesContext(connection) as q2:
            c.post(f"/api/v1/assignments/{r.json()['id']}/submit/", {"label": "pos"},
                   content_type="application/json")
        submit_q.append(len(q2))
        last = (list(q1.captured_queries), list(q2.captured_queries))
# CPU time per cycle of this process (the server side only: Django, DRF, psycopg) and of the
# PostgreSQL backend serving it (read from /proc: the database runs on this machine).
def backend_cpu():
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

ok = 0
db0 = backend_cpu()
cpu0, wall0 = time.process_time(), time.perf_counter()
for n in range(cycles):
    s = cycle(n)
    statuses[str(s)] = statuses.get(str(s), 0) + 1
    ok += s == (201, 200)
cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
db_cpu = backend_cpu() - db0
profiler = cProfile.Profile()
profiler.enable()
for n in range(cycles // 2):
    cycle(n)
profiler.disable()
profiler.dump_stats(profile_path)
print(json.dumps({
    "cycles": cycles, "ok": ok, "statuses": statuses,
    "cpu_ms_per_cycle": 1000 * cpu / cycles, "wall_ms_per_cycle": 1000 * wall / cycles,
    "db_cpu_ms_per_cycle": 1000 * db_cpu / cycles,
    "claim_queries": sorted(set(claim_q)), "submit_queries": sorted(set(submit_q)),
    "claim_queries_mean": sum(claim_q) / max(len(claim_q), 1),
    "submit_queries_mean": sum(submit_q) / max(len(submit_q), 1),
    "sample_sql": [[q["sql"][:300] for q in qs] for qs in last],
}))
"""


def in_process(n_items: int, cycles: int, n_workers: int, profile_path: str) -> dict:
    """Claim + submit cycles through the real middleware, DRF views and services, in one process
    (Django's test client, no HTTP server): CPU ms per cycle and queries per request. Less
    sensitive to other load on the machine than the HTTP run."""
    log(f"[{n_items:,} items] creating database {DB_NAME}…")
    fresh_database(DB_NAME)
    manage(env(), "migrate", "--noinput", "-v0")
    setup = json.loads(django_script(env(), SETUP, str(n_items), str(n_workers)))
    return json.loads(
        django_script(
            env(),
            IN_PROCESS,
            str(setup["project"]),
            json.dumps(setup["tokens"]),
            str(cycles),
            profile_path,
        )
    )


def request(method: str, path: str, token: str | None = None, body: dict | None = None):
    """One HTTP/1.1 request on a new connection (gunicorn's sync workers close each one), written
    and read on a plain socket: the generator shares the two cores with the server it measures,
    and with ``http.client`` it took 0.66 ms of CPU per cycle instead of 0.42."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    )
    if token:
        head += f"Authorization: Token {token}\r\n"
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    elapsed = time.perf_counter() - t0
    response = b"".join(chunks)
    header, _, data = response.partition(b"\r\n\r\n")
    if not header.startswith(b"HTTP/1."):
        raise OSError(f"not an HTTP response: {response[:80]!r}")
    if b"transfer-encoding: chunked" in header.lower():
        raise OSError("chunked responses are not read by this generator")
    return int(header[9:12]), data, elapsed


def worker_process(args):
    """One OS process running several simulated workers as threads (the GIL stays uncontended)."""
    import threading

    tokens, project, deadline, seed = args
    results = {"latencies": [], "cycles": 0, "accepted": [], "statuses": {}, "errors": 0}
    lock = threading.Lock()

    def run(token, rng):
        sent = 0
        while time.time() < deadline and sent < MAX_REQUESTS_PER_THREAD:
            status, data, dt = request("POST", f"/api/v1/projects/{project}/assignments/", token)
            sent += 1
            with lock:
                results["latencies"].append(dt)
                results["statuses"][status] = results["statuses"].get(status, 0) + 1
            if status != 201:
                if status >= 500:
                    with lock:
                        results["errors"] += 1
                time.sleep(0.05)  # no work right now: back off a little, as a client would
                continue
            assignment = json.loads(data)["id"]
            status, data, dt2 = request(
                "POST",
                f"/api/v1/assignments/{assignment}/submit/",
                token,
                {"label": rng.choice(["pos", "neg"])},
            )
            sent += 1
            with lock:
                results["latencies"].append(dt2)
                results["statuses"][status] = results["statuses"].get(status, 0) + 1
                if status == 200:
                    results["cycles"] += 1
                    results["accepted"].append(assignment)
                elif status >= 500:
                    results["errors"] += 1

    threads = [
        threading.Thread(target=run, args=(t, random.Random(seed + i)))
        for i, t in enumerate(tokens)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def trivial_ceiling(seconds: float, n_threads: int) -> float:
    deadline = time.time() + seconds
    with mp.Pool(4) as pool:
        counts = pool.map(_ping_loop, [(deadline, n_threads // 4)] * 4)
    return sum(counts) / seconds


def _ping_loop(args):
    import threading

    deadline, n = args
    count = [0]
    lock = threading.Lock()

    def run():
        while time.time() < deadline:
            status, _, _ = request("GET", "/readyz")
            with lock:
                count[0] += status == 200

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0]


def run_size(n_items: int, seconds: float, n_workers: int) -> dict:
    try:  # another benchmark's server on the port would be measured instead of ours
        request("GET", "/healthz")
        raise SystemExit(f"port {PORT} is in use: set BENCH_PORT (and BENCH_DB, BENCH_REDIS)")
    except OSError:
        pass
    log(f"[{n_items:,} items] creating database {DB_NAME}…")
    fresh_database(DB_NAME)
    manage(env(), "migrate", "--noinput", "-v0")
    log(f"[{n_items:,} items] importing items, creating {n_workers} workers with tokens…")
    setup = json.loads(django_script(env(), SETUP, str(n_items), str(n_workers)))
    project, tokens = setup["project"], setup["tokens"]
    log(f"[{n_items:,} items] starting gunicorn (4 sync workers) and a Celery worker…")
    server = start_gunicorn(env(), PORT, workers=4)
    celery = start_celery_worker(env())
    try:
        wait_for_server(PORT)
        log(f"[{n_items:,} items] ceiling: /readyz for 15 s…")
        ceiling = trivial_ceiling(15, n_workers)
        log(f"[{n_items:,} items] {n_workers} simulated workers for {seconds:.0f} s…")
        deadline = time.time() + seconds
        groups = [tokens[i::4] for i in range(4)]
        started = time.time()
        with mp.Pool(4) as pool:
            parts = pool.map(
                worker_process, [(g, project, deadline, 1000 * i) for i, g in enumerate(groups)]
            )
        elapsed = time.time() - started
    finally:
        stop(server, celery)
    latencies = sorted(x for p in parts for x in p["latencies"])
    accepted = [a for p in parts for a in p["accepted"]]
    statuses: dict = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    path = Path("/tmp") / f"bench_accepted_{DB_NAME}_{PORT}.json"
    path.write_text(json.dumps(accepted))
    check = json.loads(django_script(env(), CHECK, str(project), str(path)))
    q = statistics.quantiles(latencies, n=100)
    return {
        "items": n_items,
        "cycles_per_s": len(accepted) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "requests": len(latencies),
        "statuses": statuses,
        "server_errors": sum(p["errors"] for p in parts),
        "ceiling_rps": ceiling,
        **check,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no server: CPU ms and queries per cycle through Django's test client",
    )
    parser.add_argument("--cycles", type=int, default=1000, help="cycles measured --in-process")
    parser.add_argument("--profile", default="/tmp/bench_cycle.prof", help="cProfile output")
    args = parser.parse_args()
    if args.in_process:
        for n in args.items:
            r = in_process(n, args.cycles, args.workers, args.profile)
            sample = r.pop("sample_sql")
            print(json.dumps({"items": n, **r}, indent=1))
            for name, queries in zip(("claim", "submit"), sample, strict=True):
                print(f"-- {name}: {len(queries)} queries")
                for q in queries:
                    print("  ", q)
        return
    rows = [run_size(n, args.seconds, args.workers) for n in args.items]
    print(
        "| items | claim+submit cycles/s | p50 | p99 | requests | 5xx | /readyz ceiling "
        "| cycles ÷ ceiling | answers stored | violations |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bad = {k: v for k, v in r["violations"].items() if v not in (0, "0", "0.0000", False)}
        print(
            f"| {r['items']:,} | {r['cycles_per_s']:.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
            f"{r['requests']:,} | {r['server_errors']} | {r['ceiling_rps']:.0f} req/s | "
            f"{r['cycles_per_s'] / r['ceiling_rps']:.3f} | {r['answers']:,} | {bad or 'none'} |"
        )
    if len(rows) > 1:
        print(
            f"\nthroughput at {rows[-1]['items']:,} items / at {rows[0]['items']:,} items: "
            f"{rows[-1]['cycles_per_s'] / rows[0]['cycles_per_s']:.2f}"
        )
    print("statuses:", {r["items"]: r["statuses"] for r in rows})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
