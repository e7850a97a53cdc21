"""A lost database connection is the platform's outage, not the user's error: 503, never 500."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger("hitl_platform.database")

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "The service is briefly unavailable (database connection lost). Nothing was saved; retry in a few seconds."


def database_unavailable(request) -> HttpResponse:
    """The response for a lost connection; the transaction was rolled back, so nothing is half-written."""
    # The dead connection is dropped when the request finishes (Django's close_old_connections on
    # request_finished, with CONN_HEALTH_CHECKS); the next request opens a new one.
    wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        response = JsonResponse({"detail": UNAVAILABLE, "code": "database_unavailable"}, status=503)
    else:
        response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def is_connection_loss(exc: BaseException) -> bool:
    """Operational failures (connection lost or terminated, database locked, deadlock): worth a
    retry. A constraint violation (IntegrityError) is a bug to see, not an outage, and stays 500."""
    return isinstance(exc, OperationalError | InterfaceError)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_connection_loss(exception):
            logger.warning(
                "database connection lost on %s %s: %s", request.method, request.path, exception
            )
            return database_unavailable(request)
        return None
