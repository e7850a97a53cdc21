from rest_framework.permissions import BasePermission

from .models import Worker  # noqa: F401  (the reverse relation user.worker)


class IsWorker(BasePermission):
    """Signed in as a crowd worker (a user with a worker profile)."""

    message = "Only crowd worker accounts can do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and hasattr(user, "worker"))


def worker_of(request) -> Worker:
    """The signed-in worker (loaded with the user by token authentication, else one query)."""
    return request.user.worker
