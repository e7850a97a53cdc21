from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from tasks.jobs import assignments_expire_job
from tasks.models import Assignment, Item
from workers.services import worker_create


def test_leases_past_expiry_become_expired_and_live_ones_stay(project, worker):
    now = timezone.now()
    other = worker_create(username="late", password="x-very-long-pass")
    old = Assignment.objects.create(
        project=project,
        item=Item.objects.create(project=project, external_id="a"),
        worker=worker,
        reward=Decimal("0.05"),
        leased_at=now - timedelta(minutes=20),
        expires_at=now - timedelta(minutes=10),
    )
    live = Assignment.objects.create(
        project=project,
        item=Item.objects.create(project=project, external_id="b"),
        worker=other,
        reward=Decimal("0.05"),
        leased_at=now,
        expires_at=now + timedelta(minutes=10),
    )
    assert not old.is_live() and live.is_live()

    assert assignments_expire_job.delay().get() == 1

    old.refresh_from_db()
    live.refresh_from_db()
    assert old.status == "expired"
    assert live.status == "leased"
