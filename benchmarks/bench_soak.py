"""Soak: the crowd simulator over the REST API against gunicorn, a Celery worker and beat, for minutes.

    python benchmarks/bench_soak.py                  # 64 simulated workers for 10 minutes
    python benchmarks/bench_soak.py --minutes 1      # a short run to try the setup

It builds a fresh database (``hitl_soak`` on ``BENCH_PG``, default
postgres://postgres@127.0.0.1:5432), empties Redis db 6 (``BENCH_REDIS``; the broker and the
throttle cache), migrates, and starts gunicorn (4 sync workers), one Celery worker and Celery
beat, all with DEBUG off. Then ``simulator.remote`` creates a project from a real dataset
(default ``benchmarks/data/product``, 8,315 items) with 64 synthetic workers and drives them from
64 threads through ``/api/v1/`` (token, claim, submit) until the deadline. The project asks for
a confidence of 0.999 with up to 10 answers an item and a budget for all of them, so work does not
run out; its blocking rules are off (simulated workers answer in milliseconds, which the speed
rule would block) and its entrance exam is taken but passed by everyone (a worker failing it
would stop, and the load with it).

Every 10 s it samples the resident memory (VmRSS in /proc) of every process of the stack: the
gunicorn master and workers, the Celery worker and its pool child, beat. Every 30 s it prints a
progress line on stderr. Afterwards it checks in the database: every submit the client saw
accepted (200) stored exactly once and nothing else stored, no worker twice on an item, item
counters equal to the rows, reserved money equal to live leases plus unpaid answers, and the
ledger balanced to the cent against the counters. It prints a Markdown table (``--json OUT`` for
the figures) and exits 1 when a goal is missed: zero 5xx, zero lost or duplicate answers, ledger
balanced, resident memory of each process growing less than 10% from minute 2 to the end, and
the load sustained (the run ended by the clock, not for lack of work, and every worker answered
in the final minute). Client timeouts (30 s; the simulator sends the request again) are counted
and shown, not a goal: on a loaded machine the 64 logins at the start queue up behind the password
hashing. Process logs go to ``--logs`` (default /tmp/hitl_soak_logs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from stack import (
    ROOT,
    answer_violations,
    fresh_database,
    ledger_violations,
    log,
    manage,
    stack_env,
    start_beat,
    start_celery_worker,
    start_gunicorn,
    stop,
    wait_for_server,
)

PORT = 8766
DB_NAME = "hitl_soak"
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/6")
SAMPLE_EVERY = 10.0
PROGRESS_EVERY = 30.0
MAX_GROWTH = 0.10


def env() -> dict:
    return stack_env(DB_NAME, REDIS, CACHE_URL=REDIS)


# --- resident memory from /proc ------------------------------------------------------------------


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:
        pass
    return sorted(kids)


class Sampler(threading.Thread):
    """RSS of each process of the stack every ``SAMPLE_EVERY`` s; time 0 is the first request."""

    def __init__(self, roles: dict[str, int], counts: dict, minutes: float) -> None:
        super().__init__(daemon=True)
        self.roles, self.counts, self.minutes = roles, counts, minutes
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.labels: dict[int, str] = {}  # pid -> "gunicorn worker 2 (pid 123)"
        self.t0: float | None = None
        self.halt = threading.Event()

    def processes(self) -> dict[int, str]:
        for role, pid in self.roles.items():
            if pid not in self.labels:
                self.labels[pid] = f"{role} (pid {pid})"
            kind = "gunicorn worker" if role == "gunicorn master" else f"{role} child"
            for kid in children(pid):
                if kid not in self.labels:
                    n = sum(1 for label in self.labels.values() if label.startswith(kind)) + 1
                    self.labels[kid] = f"{kind} {n} (pid {kid})"
        return self.labels

    def requests(self) -> tuple[int, int]:
        statuses = {k: v for k, v in list(self.counts.items()) if k.startswith("http_")}
        server_errors = sum(v for k, v in statuses.items() if int(k[5:]) >= 500)
        return sum(statuses.values()), server_errors + self.counts.get("errors", 0)

    def run(self) -> None:
        last_progress = 0.0
        while not self.halt.wait(1.0 if self.t0 is None else SAMPLE_EVERY):
            if self.t0 is None:
                if not self.requests()[0]:
                    continue
                self.t0 = time.monotonic()
            t = time.monotonic() - self.t0
            sample = {}
            for pid, label in self.processes().items():
                kb = rss_kb(pid)
                if kb is not None:
                    sample[label] = kb
            self.samples.append((t, sample))
            if t - last_progress >= PROGRESS_EVERY - 1 or not last_progress:
                last_progress = max(t, 0.001)
                requests, bad = self.requests()
                rss = ", ".join(
                    f"{label.split(' (')[0]} {kb / 1024:.0f}" for label, kb in sample.items()
                )
                log(
                    f"[soak {t:5.0f} s] {requests:,} requests, {self.counts.get('answers', 0):,} "
                    f"answers, 5xx/errors {bad}; RSS MB: {rss}"
                )

    def at(self, seconds: float) -> tuple[float, dict[str, int]]:
        """The sample taken nearest to ``seconds`` after the first request."""
        return min(self.samples, key=lambda s: abs(s[0] - seconds))


# --- the run -----------------------------------------------------------------------------------


def flush_redis() -> None:
    import redis  # noqa: PLC0415

    redis.Redis.from_url(REDIS).flushdb()


def soak(args) -> dict:
    os.environ.update(env())
    os.environ["DJANGO_SETTINGS_MODULE"] = "hitl_platform.settings"
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    log(f"creating database {DB_NAME}, emptying {REDIS}, migrating…")
    fresh_database(DB_NAME)
    flush_redis()
    manage(env(), "migrate", "--noinput", "-v0")

    import django  # noqa: PLC0415

    sys.path.insert(0, str(ROOT))  # this script runs from benchmarks/: the project's apps
    django.setup()
    from simulator import engine  # noqa: PLC0415
    from simulator.data import load_dataset  # noqa: PLC0415
    from simulator.engine import SimulationConfig  # noqa: PLC0415
    from simulator.remote import RemoteOptions, simulate_remote  # noqa: PLC0415

    log("starting gunicorn (4 sync workers), a Celery worker and Celery beat…")
    server = start_gunicorn(env(), PORT, workers=4, log_file=logs / "gunicorn.log")
    celery = start_celery_worker(env(), log_file=logs / "celery.log")
    beat = start_beat(env(), log_file=logs / "beat.log")
    counts: dict = {}
    ended = [0.0]
    accepted: list[int] = []
    seconds = 60.0 * args.minutes
    sampler = Sampler(
        {"gunicorn master": server.pid, "celery worker": celery.pid, "celery beat": beat.pid},
        counts,
        args.minutes,
    )
    try:
        wait_for_server(PORT)
        dataset = load_dataset(args.dataset)
        config = SimulationConfig(
            workers="synthetic",
            n_workers=args.workers,
            target=0.999,
            overlap=10,
            blocking=False,
            seed=args.seed,
            refit_every=args.refit_every,
        )
        log(
            f"{args.workers} simulated workers on {dataset.name} ({len(dataset.tasks):,} items), "
            f"{args.threads} threads, {args.minutes:g} min…"
        )
        settings = engine.project_settings
        # The exam stays (gold items, exam leases) but turns nobody away, as in bench_assignment:
        # a synthetic worker failing it would stop, and the load with it.
        engine.project_settings = lambda *a, **k: {**settings(*a, **k), "exam_pass_accuracy": 0.0}
        sampler.start()
        run = simulate_remote(
            dataset,
            config,
            RemoteOptions(
                url=f"http://127.0.0.1:{PORT}",
                threads=args.threads,
                max_requests=10_000_000,
                time_limit=seconds,
            ),
            progress=lambda _: ended.__setitem__(0, time.monotonic()),
            counts=counts,
            accepted=accepted,
        )
        # simulate_remote reports progress last when its threads have ended (then it settles).
        elapsed = ended[0] - sampler.t0 if sampler.t0 else 0.0
        sampler.halt.set()
        sampler.join()
        alive = {
            name: p.poll() is None
            for name, p in (("gunicorn", server), ("celery", celery), ("beat", beat))
        }
    finally:
        sampler.halt.set()
        stop(server, celery, beat)
    return report(run, counts, accepted, sampler, seconds, elapsed, alive, logs)


def report(run, counts, accepted, sampler, seconds, elapsed, alive, logs) -> dict:
    from datetime import timedelta  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    from tasks.models import Assignment, Item  # noqa: PLC0415

    project = run.project
    statuses = {k[5:]: v for k, v in sorted(counts.items()) if k.startswith("http_")}
    per_endpoint_5xx = {k: v for k, v in counts.items() if k.startswith("5xx ")}
    server_errors = sum(v for k, v in statuses.items() if int(k) >= 500)
    answers = answer_violations(project.pk, accepted)
    ledger = ledger_violations(project.pk)
    last = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    newest = last.order_by("-submitted_at").values_list("submitted_at", flat=True).first()
    final_minute = (
        last.filter(submitted_at__gte=newest - timedelta(minutes=1))
        .values("worker")
        .distinct()
        .count()
        if newest
        else 0
    )
    base_t = min(120.0, seconds / 5)
    t_a, first = sampler.at(base_t)
    t_b, end = sampler.at(seconds)
    memory = []
    for label in sampler.labels.values():
        a, b = first.get(label), end.get(label)
        growth = (b - a) / a if a and b else None
        memory.append(
            {
                "process": label,
                "rss_a_mb": a and a / 1024,
                "rss_b_mb": b and b / 1024,
                "growth": growth,
            }
        )
    log_text = {p.name: p.read_text(errors="replace") for p in logs.glob("*.log")}
    tracebacks = {name: text.count("Traceback") for name, text in log_text.items()}
    timeouts = log_text.get("gunicorn.log", "").count("WORKER TIMEOUT")
    goals = {
        "zero 5xx": server_errors == 0,
        "zero lost or duplicate answers": all(
            not v
            for k, v in answers["violations"].items()
            if k not in ("reserved_mismatch", "over_budget")
        ),
        "ledger balanced to the cent": Decimal(answers["violations"]["reserved_mismatch"]) == 0
        and not answers["violations"]["over_budget"]
        and not any(ledger["violations"].values()),
        f"RSS growth < {MAX_GROWTH:.0%} per process": all(
            m["growth"] is not None and m["growth"] < MAX_GROWTH for m in memory
        ),
        "load sustained (ended by the clock, every worker answering in the final minute)": (
            run.stopped_by == "limit" and final_minute == run.config.n_workers
        ),
    }
    return {
        "minutes": seconds / 60,
        "elapsed_s": elapsed,
        "dataset": run.dataset.name,
        "items": Item.objects.filter(project=project).count(),
        "items_open_at_end": Item.objects.filter(project=project, status="open").count(),
        "stopped_by": run.stopped_by,
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "server_errors": server_errors,
        "broken_connections": counts.get("errors", 0),
        "5xx_by_endpoint": per_endpoint_5xx,
        "accepted_submits": len(accepted),
        "late_submits": counts.get("late", 0),
        "cycles_per_s": len(accepted) / elapsed if elapsed else 0.0,
        "workers_answering_in_final_minute": final_minute,
        **answers,
        "ledger": ledger["ledger"],
        "ledger_violations": ledger["violations"],
        "rss_at_s": [round(t_a), round(t_b)],
        "memory": memory,
        "processes_alive_at_end": alive,
        "log_tracebacks": tracebacks,
        "gunicorn_worker_timeouts": timeouts,
        "goals": goals,
    }


def markdown(r: dict) -> str:
    v = r["violations"]
    lost = v["accepted_not_stored"] + v["stored_not_accepted"] + v["accepted_twice"]
    rows = [
        "| figure | value |",
        "|---|---|",
        f"| run | {r['minutes']:g} min ({r['elapsed_s']:.0f} s measured), {r['dataset']}, "
        f"{r['items']:,} items, ended by: {r['stopped_by']}, items still open: "
        f"{r['items_open_at_end']:,} |",
        f"| requests | {r['requests']:,} ({r['requests'] / max(r['elapsed_s'], 1):.0f} req/s) |",
        f"| claim+submit cycles/s | {r['cycles_per_s']:.1f} |",
        "| statuses | " + ", ".join(f"{k}: {v:,}" for k, v in r["statuses"].items()) + " |",
        f"| 5xx / broken connections | {r['server_errors']} / {r['broken_connections']} "
        f"{r['5xx_by_endpoint'] or ''} |",
        f"| answers stored / submits accepted | {r['answers']:,} / {r['accepted_submits']:,} "
        f"(late, refused: {r['late_submits']}) |",
        f"| lost or duplicate answers | {lost} lost/unacknowledged/twice, "
        f"{v['worker_twice_on_item']} worker twice on an item, {v['item_counters_wrong']} item "
        f"counters wrong, {v['items_over_max_overlap']} items over max overlap |",
        f"| ledger | budget {r['ledger']['budget']}, spent {r['ledger']['spent']}, reserved "
        f"{r['ledger']['reserved']}; workers earned {r['ledger']['workers_earned']}, approved "
        f"rewards {r['ledger']['approved_rewards']}, accounts sum {r['ledger']['accounts_sum']}; "
        f"reserved − held {v['reserved_mismatch']}; mismatches: "
        f"{r['ledger_violations']['ledger_mismatches'] or 'none'} |",
        f"| workers answering in the final minute | {r['workers_answering_in_final_minute']} |",
        f"| tracebacks in logs / gunicorn worker timeouts | {r['log_tracebacks']} / "
        f"{r['gunicorn_worker_timeouts']} |",
        "",
        f"| process | RSS at {r['rss_at_s'][0]} s | RSS at {r['rss_at_s'][1]} s | growth |",
        "|---|---|---|---|",
    ]
    for m in r["memory"]:
        a = f"{m['rss_a_mb']:.1f} MB" if m["rss_a_mb"] else "–"
        b = f"{m['rss_b_mb']:.1f} MB" if m["rss_b_mb"] else "gone"
        g = f"{m['growth']:+.1%}" if m["growth"] is not None else "–"
        rows.append(f"| {m['process']} | {a} | {b} | {g} |")
    rows += ["", "| goal | met |", "|---|---|"]
    rows += [f"| {goal} | {'yes' if ok else '**no**'} |" for goal, ok in r["goals"].items()]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="run time (default 10)")
    parser.add_argument("--workers", type=int, default=64, help="simulated workers (default 64)")
    parser.add_argument("--threads", type=int, default=64, help="client threads (default 64)")
    parser.add_argument(
        "--dataset", default=str(ROOT / "benchmarks" / "data" / "product"), help="dataset folder"
    )
    parser.add_argument(
        "--refit-every",
        type=int,
        default=50,
        help="refit after this many answers (default 50, a new project's default; the refit "
        "jobs then run back to back on the Celery worker, as on a busy deployment)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logs", default="/tmp/hitl_soak_logs", help="process logs go here")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.minutes <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--minutes, --workers and --threads must be positive")
    r = soak(args)
    print(markdown(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2, default=str))
    sys.exit(0 if all(r["goals"].values()) else 1)


if __name__ == "__main__":
    main()
