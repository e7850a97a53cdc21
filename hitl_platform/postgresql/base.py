"""Django's PostgreSQL backend with a health check that costs no round trip.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before each request reuses it,
by running ``SELECT 1``: on the worker API that is one database round trip in every three or four.
Between requests an idle connection has nothing to read, unless the server has spoken: a
terminated backend (restart, ``pg_terminate_backend``, idle timeout) sends its error and closes
the socket. So the socket is polled first, without waiting; only when something arrived, or the
connection is already known to be broken, does the full check run. A connection that died
silently (a host gone without closing) is not seen by either check before the next query.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        pgconn = conn.pgconn
        if pgconn.status != pq.ConnStatus.OK or (
            pgconn.transaction_status != pq.TransactionStatus.IDLE
        ):
            return super().is_usable()
        try:
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
