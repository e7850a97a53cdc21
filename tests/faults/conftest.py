"""Fault injection: a private Redis to stop and start, Celery workers to kill, on the test database.

Nothing here touches a shared service: each test gets its own ``redis-server`` on a free port,
and the worker processes it starts use that Redis and the test database only.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import kombu.pools
import pytest
from django.db import connection

from hitl_platform import jobs
from hitl_platform.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def database_url_of_tests() -> str:
    """DATABASE_URL pointing at the test database (pytest-django's ``test_…`` copy)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """A throw-away ``redis-server`` without persistence: stopping it loses whatever it held."""

    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", tempfile.gettempdir(), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def redis_server():
    if REDIS_SERVER is None:
        pytest.skip("needs the redis-server binary (apt-get install redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _reset_producer_pool() -> None:
    """Drop this process's broker connections, so the next job opens one to the current URL
    (kombu keeps its pools in a registry: close and forget them all, as Celery does on fork)."""
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker(redis_server, monkeypatch):
    """This process queues jobs on the private Redis for real (not eagerly)."""
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    monkeypatch.setattr(jobs, "_broker_down_until", 0.0)  # no backoff left over, none left behind
    saved = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = False, redis_server.url
    _reset_producer_pool()
    yield redis_server
    _reset_producer_pool()
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved


class CeleryWorker:
    """``celery worker`` processes on the private Redis and the test database; kill them at will."""

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        self.procs: list[subprocess.Popen] = []
        self.log = tempfile.NamedTemporaryFile("w+", prefix="celery-", suffix=".log")  # noqa: SIM115

    def start(self, queue: str = "celery") -> subprocess.Popen:
        """A worker on ``queue``; it is ready a few seconds later (jobs wait in Redis meanwhile)."""
        env = {
            **os.environ,
            "DATABASE_URL": database_url_of_tests(),
            "CELERY_BROKER_URL": self.broker_url,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hitl_platform", "worker", "--pool=solo"]
            + ["-Q", queue, "--without-heartbeat", "--without-gossip", "--without-mingle"]
            + ["--loglevel=INFO"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """``kill -9``: no clean-up, no acknowledgement, the database connection just drops."""
        proc.kill()
        proc.wait(timeout=10)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        print(self.output()[-6000:])
        self.log.close()


@pytest.fixture
def celery_workers(broker):
    workers = CeleryWorker(broker.url)
    yield workers
    workers.stop_all()
