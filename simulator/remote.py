"""The same simulation against a running deployment, over its REST API, from many threads.

The project and the worker accounts are created through the local services on the deployment's
database (run the command with the same ``DATABASE_URL`` as the server). Then each thread drives
a share of the workers in real time: ``POST /api/v1/auth/token/`` once per worker, then
``POST /api/v1/projects/{id}/assignments/`` (201 work, 204 none, 403 blocked or paused, 409 budget
used up), and ``POST /api/v1/assignments/{id}/submit/`` with the label, or ``…/skip/`` when a
replayed worker is given an item they never answered (the API has no eligibility filter). Logins,
claims and submits are sent again after a timeout, 429 or 5xx (up to three tries), as a real client
would: many workers logging in at once queue up behind the password hashing. The deployment runs its own jobs (refits, expiry, approval). Afterwards
the project is refitted and its due answers approved through the local services, and the report
is read from the database.

Every HTTP status is counted (``http_201``, ``http_500``, …; ``errors`` for broken connections),
5xx answers also per endpoint (``5xx POST /api/v1/assignments/{id}/submit/``). A caller may pass
its own ``counts`` dict to watch them live, and an ``accepted`` list that receives the id of every
assignment whose submit the server accepted (200), to check later that each is stored exactly once.

Only loopback URLs are accepted, and every run is bounded by a request count and a deadline.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from aggregation.jobs import project_refit_job
from hitl_platform.celery import app as celery_app
from tasks.approval import answers_approve_due
from tasks.models import Project

from .crowd import Crowd
from .data import Dataset
from .engine import Run, SimulationConfig, SimulationError, setup

IDLE_TRIES = 2
IDLE_SLEEP = 0.2
TRIES = 3  # a request lost to a timeout or a busy server (0, 429, 5xx) is sent again
RETRY_SLEEP = 1.0
TIMEOUT = 30.0
_ID = re.compile(r"/\d+/")


@dataclass
class RemoteOptions:
    url: str
    threads: int = 8
    max_requests: int = 100_000
    time_limit: float = 600.0


def loopback_address(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``; raises ``SimulationError`` unless it is loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SimulationError(f"--url must be an http(s) URL, not {url!r}")
    try:
        address = ipaddress.ip_address(socket.gethostbyname(parts.hostname))
    except (OSError, ValueError):
        raise SimulationError(f"--url host {parts.hostname!r} does not resolve") from None
    if not address.is_loopback:
        raise SimulationError(
            f"--url must be a loopback address (127.0.0.0/8, ::1, localhost), not {parts.hostname}"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port


class _Budget:
    """Requests left and the deadline, shared by every thread."""

    def __init__(self, max_requests: int, seconds: float) -> None:
        self.left = max_requests
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.stop.is_set() or self.left <= 0 or time.monotonic() > self.deadline:
                self.stop.set()
                return False
            self.left -= 1
            return True


class _Client:
    """One keep-alive HTTP connection of one thread."""

    def __init__(self, scheme: str, host: str, port: int, budget: _Budget, counts: dict, lock):
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        self.conn = cls(host, port, timeout=TIMEOUT)
        self.budget, self.counts, self.lock = budget, counts, lock

    def post(self, path: str, body: dict | None = None, token: str | None = None):
        if not self.budget.take():
            return None, None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        data = json.dumps(body or {})
        try:
            self.conn.request("POST", path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self._count("errors")
            return 0, None
        self._count(f"http_{response.status}")
        if response.status >= 500:
            self._count(f"5xx POST {_ID.sub('/{id}/', path)}")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return response.status, payload

    def post_again(self, path: str, body: dict | None = None, token: str | None = None):
        """``post``, sent again after a timeout, 429 or 5xx, up to ``TRIES`` in all. For the
        requests that are safe to repeat: a login, a claim (it returns the worker's live lease)
        and a submit (a second one returns the first result). Every try is counted."""
        for attempt in range(TRIES):
            status, payload = self.post(path, body, token)
            transient = status is not None and (status in (0, 429) or status >= 500)
            if not transient or attempt == TRIES - 1:
                break
            time.sleep(RETRY_SLEEP)
        return status, payload

    def _count(self, key: str) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def simulate_remote(
    dataset: Dataset,
    config: SimulationConfig,
    options: RemoteOptions,
    *,
    progress: Callable[[str], None] | None = None,
    counts: dict[str, int] | None = None,
    accepted: list[int] | None = None,
) -> Run:
    """Run the crowd against ``options.url``; ``counts`` and ``accepted``, when given, are filled
    live (the counters as in ``run.counters``; the assignment ids of accepted submits)."""
    scheme, host, port = loopback_address(options.url)
    if options.threads < 1:
        raise SimulationError("--threads must be at least 1")
    if options.max_requests < 1 or options.time_limit <= 0:
        raise SimulationError("--max-requests and --time-limit must be positive")
    started = time.perf_counter()
    password = secrets.token_urlsafe(12)
    run, crowd, workers = setup(dataset, config)
    run.remote = True
    # One password hash for every simulated worker (hashing is slow by design).
    get_user_model().objects.filter(pk__in=[w.user_id for w in workers]).update(
        password=make_password(password)
    )
    ext_of = dict(run.project.items.values_list("pk", "external_id"))
    budget = _Budget(options.max_requests, options.time_limit)
    counts = {} if counts is None else counts
    counts.update({"answers": 0, "skips": 0, "claims": 0, "late": 0})
    accepted = [] if accepted is None else accepted
    lock = threading.Lock()
    names = [w.user.username for w in workers]
    shares = [list(range(i, len(workers), options.threads)) for i in range(options.threads)]

    def drive(mine: list[int]) -> None:
        client = _Client(scheme, host, port, budget, counts, lock)
        _drive(client, crowd, mine, names, password, run.project.pk, ext_of, counts, lock, accepted)

    threads = [
        threading.Thread(target=drive, args=(share,), daemon=True) for share in shares if share
    ]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=5.0)
        if progress:
            elapsed = time.perf_counter() - started
            progress(
                f"[{dataset.name} via {options.url}] {counts['answers']} answers, "
                f"{sum(v for k, v in counts.items() if k.startswith('http_'))} requests, "
                f"{elapsed:.0f} s"
            )
    run.counters.update(counts)
    run.counters.setdefault("refits", 0)
    run.counters.setdefault("expired", 0)
    if Project.objects.filter(pk=run.project.pk, status=Project.Status.PAUSED).exists():
        run.stopped_by = "budget"
    elif budget.stop.is_set():
        run.stopped_by = "limit"
    _settle(run)
    run.wall_seconds = time.perf_counter() - started
    return run


def _drive(client, crowd: Crowd, mine, names, password, project_id, ext_of, counts, lock, accepted):
    tokens: dict[int, str] = {}
    idle = dict.fromkeys(mine, 0)
    active = list(mine)
    while active and not client.budget.stop.is_set():
        for i in list(active):
            if i not in tokens:
                status, body = client.post_again(
                    "/api/v1/auth/token/", {"username": names[i], "password": password}
                )
                if status != 200:
                    active.remove(i)
                    continue
                tokens[i] = body["token"]
            status, body = client.post_again(
                f"/api/v1/projects/{project_id}/assignments/", token=tokens[i]
            )
            if status is None:
                return
            with lock:
                counts["claims"] += 1
            if status == 409:  # budget used up: the whole crowd stops
                client.budget.stop.set()
                return
            if status != 201:
                idle[i] += 1
                if status in (0, 403) or idle[i] > IDLE_TRIES:
                    active.remove(i)
                else:
                    time.sleep(IDLE_SLEEP)
                continue
            idle[i] = 0
            with lock:  # the crowd's random generator is not thread-safe
                label = crowd.answer(i, ext_of.get(body["item"]["id"], ""))
            if label is None:
                client.post(f"/api/v1/assignments/{body['id']}/skip/", token=tokens[i])
                with lock:
                    counts["skips"] += 1
                continue
            status, _ = client.post_again(
                f"/api/v1/assignments/{body['id']}/submit/", {"label": label}, token=tokens[i]
            )
            if status is None:  # the run ended before the submit was sent
                return
            with lock:
                counts["answers" if status == 200 else "late"] += 1
                if status == 200:
                    accepted.append(body["id"])


def _settle(run: Run) -> None:
    """Refit the project once more and approve its answers as auto-approval eventually would.
    Nothing global runs here (no lease expiry, no maturity): the deployment may serve others."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        project_refit_job.apply(args=(run.project.pk,), throw=True)
        run.counters["refits"] += 1
    finally:
        celery_app.conf.task_always_eager = eager
    project = Project.objects.get(pk=run.project.pk)
    answers_approve_due(
        project=project,
        now=timezone.now() + timedelta(days=project.auto_approve_days, seconds=1),
    )
