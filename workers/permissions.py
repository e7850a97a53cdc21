from rest_framework.permissions import BasePermission

from .models import Worker


class IsWorker(BasePermission):
    """Signed in as a crowd worker (a user with a worker profile)."""

    message = "Only crowd worker accounts can do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and Worker.objects.filter(user=user).exists())


def worker_of(request) -> Worker:
    return Worker.objects.get(user=request.user)
