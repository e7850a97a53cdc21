"""Health endpoints for load balancers: alive, and ready (database and broker reachable)."""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .celery import app

_broker_checked: dict[str, float | bool] = {"at": 0.0, "ok": False}
BROKER_CHECK_SECONDS = 5.0


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _broker_ok() -> bool:
    if not settings.CELERY_BROKER_URL:
        return True  # jobs run in-process
    now = time.monotonic()
    if now - float(_broker_checked["at"]) > BROKER_CHECK_SECONDS:
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=1)
            _broker_checked["ok"] = True
        except Exception:
            _broker_checked["ok"] = False
        _broker_checked["at"] = now
    return bool(_broker_checked["ok"])


@never_cache
def readyz(request):
    """One database query (and a broker check at most every 5 s); 503 when either is down."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    checks["broker"] = "ok" if _broker_ok() else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )
