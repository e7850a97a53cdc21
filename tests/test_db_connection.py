"""The PostgreSQL connection's health check (``hitl_platform.postgresql``): a connection the
server closed between requests is replaced before the next request uses it, and checking an idle
connection that is fine costs no round trip."""

import time
from unittest import mock

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.postgres


def terminate(pid: int) -> None:
    """Cut a backend from the server side, as a restart or an idle timeout would."""
    params = {k: v for k, v in connection.get_connection_params().items() if k != "context"}
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):  # until the backend is gone
            alive = other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if alive.fetchone() is None:
                return
            time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_closed_is_replaced_before_the_next_request():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    terminate(pid)
    time.sleep(0.05)  # the server's goodbye reaches the socket
    assert connection.is_usable() is False
    connection.health_check_done = False  # as a new request starts
    connection.close_if_health_check_failed()  # as its first query does
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@pytest.mark.django_db(transaction=True)
def test_checking_an_idle_healthy_connection_sends_nothing_to_the_server():
    connection.ensure_connection()
    with mock.patch.object(
        type(connection.connection), "cursor", side_effect=AssertionError("a round trip")
    ):
        assert connection.is_usable() is True
