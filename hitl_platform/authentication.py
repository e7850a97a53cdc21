from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from hitl_platform.db import RowReader
from workers.models import Worker


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, loading the user and their worker profile in one query.

    The query is written by hand (every API request runs it, and compiling it cost more than
    running it); the instances are those ``select_related("user", "user__worker")`` gives."""

    _readers = None

    @classmethod
    def _sql(cls):
        if cls._readers is None:
            user = get_user_model()
            readers = (RowReader(Token, "t"), RowReader(user, "u"), RowReader(Worker, "w"))
            token_t, user_t, worker_t = (r.model._meta.db_table for r in readers)
            user_fk = Worker._meta.get_field("user").column
            sql = (
                f"SELECT {', '.join(r.sql(connection) for r in readers)} FROM {token_t} t"  # noqa: S608 (identifiers from the models)
                f" JOIN {user_t} u ON u.{user._meta.pk.column} = t.user_id"
                f" LEFT JOIN {worker_t} w ON w.{user_fk} = u.{user._meta.pk.column}"
                " WHERE t.key = %s"
            )
            cls._readers = (readers, sql)
        return cls._readers

    def authenticate_credentials(self, key):
        (token_r, user_r, worker_r), sql = self._sql()
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = token_r.load(connection, row)
        user = user_r.load(connection, row, token_r.width)
        worker_field = Worker._meta.get_field("user")
        worker = None
        if row[token_r.width + user_r.width] is not None:  # the worker's primary key
            worker = worker_r.load(connection, row, token_r.width + user_r.width)
            worker_field.set_cached_value(worker, user)
        worker_field.remote_field.set_cached_value(user, worker)  # user.worker, or no worker
        Token._meta.get_field("user").set_cached_value(token, user)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (user, token)
