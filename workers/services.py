from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Worker


def worker_create(*, username: str, password: str, email: str = "") -> Worker:
    """A new crowd worker account (a user with a worker profile)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, email=email
        )
        return Worker.objects.create(user=user)
