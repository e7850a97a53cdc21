"""Every rule the database holds: a bad row cannot be written, whatever code tries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tasks.models import Assignment, Item, Project
from workers.models import Worker
from workers.services import worker_create


def violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    "fields",
    [
        {"reward": Decimal("-0.01")},
        {"budget": Decimal("-1")},
        {"min_overlap": 0, "max_overlap": 0},
        {"min_overlap": 3, "max_overlap": 2},
        {"target_confidence": 0.4},
        {"target_confidence": 1.0},
        {"gold_rate": 1.5},
        {"gold_rate": -0.1},
        {"assignment_seconds": 5},
        {"status": "deleted"},
        {"aggregation_method": "magic"},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_database_refuses_a_project_breaking_a_rule(requester, fields):
    base = {"name": "p", "labels": ["a", "b"], "reward": Decimal("0.05"), "budget": Decimal("10")}
    assert violates(lambda: Project.objects.create(owner=requester, **{**base, **fields}))


def test_database_refuses_counters_past_the_budget(project):
    assert violates(
        lambda: Project.objects.filter(pk=project.pk).update(reserved=project.budget + 1)
    )
    assert violates(lambda: Project.objects.filter(pk=project.pk).update(spent=-1))


def test_a_valid_project_is_accepted(requester, project_factory):
    project = project_factory(requester, min_overlap=1, max_overlap=1, target_confidence=0.999)
    assert project.pk


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["only"], "at least two"),
        (["a", "a"], "distinct"),
        (["a", " a "], "distinct"),
        (["a", ""], "empty"),
        ("a,b", "list of strings"),
        ([1, 2], "list of strings"),
    ],
)
def test_project_needs_two_distinct_labels(requester, labels, message):
    project = Project(owner=requester, name="p", labels=labels, reward=1, budget=1)
    with pytest.raises(ValidationError, match=message):
        project.full_clean()


def test_external_id_is_unique_within_a_project_only(project, project_factory, other_requester):
    Item.objects.create(project=project, external_id="x1")
    assert violates(lambda: Item.objects.create(project=project, external_id="x1"))
    other = project_factory(other_requester)
    assert Item.objects.create(project=other, external_id="x1").pk


@pytest.mark.parametrize(
    "fields",
    [
        {"external_id": ""},
        {"confidence": 1.2},
        {"confidence": -0.1},
        {"status": "lost"},
        {"label_source": "oracle"},
        {"status": "final", "final_label": "", "label_source": "crowd"},
        {"status": "final", "final_label": "pos", "label_source": ""},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_database_refuses_an_item_breaking_a_rule(project, fields):
    assert violates(lambda: Item.objects.create(project=project, **{"external_id": "i", **fields}))


@pytest.fixture
def item(project):
    return Item.objects.create(project=project, external_id="i1")


def lease(item, worker, **fields):
    now = timezone.now()
    defaults = {
        "project": item.project,
        "reward": Decimal("0.05"),
        "leased_at": now,
        "expires_at": now + timedelta(minutes=10),
    }
    return Assignment.objects.create(item=item, worker=worker, **{**defaults, **fields})


def test_one_assignment_per_item_and_worker(item, worker):
    lease(item, worker)
    assert violates(
        lambda: lease(item, worker, status="submitted", label="pos", submitted_at=timezone.now())
    )


def test_one_live_lease_per_worker_and_project(project, worker):
    first = Item.objects.create(project=project, external_id="a")
    second = Item.objects.create(project=project, external_id="b")
    lease(first, worker)
    assert violates(lambda: lease(second, worker))
    # Once the first is answered, a new lease is fine.
    Assignment.objects.filter(item=first).update(
        status="submitted", label="pos", submitted_at=timezone.now()
    )
    assert lease(second, worker).pk


def test_two_workers_may_answer_the_same_item(item, worker):
    other = worker_create(username="second", password="x-very-long-pass")
    lease(item, worker)
    assert lease(item, other).pk
    assert Worker.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"reward": Decimal("-0.01")},
        {"status": "paid"},
        {"status": "submitted", "label": "", "submitted_at": "now"},
        {"status": "submitted", "label": "pos", "submitted_at": None},
        {"status": "approved", "label": "", "submitted_at": "now"},
        {"status": "leased", "label": "pos"},
        {"status": "expired", "label": "pos"},
        {"seconds_spent": -1.0},
        {"expires_at": "past"},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_database_refuses_an_assignment_breaking_a_rule(item, worker, fields):
    now = timezone.now()
    fields = dict(fields)
    if fields.get("submitted_at") == "now":
        fields["submitted_at"] = now
    if fields.get("expires_at") == "past":
        fields["leased_at"], fields["expires_at"] = now, now - timedelta(seconds=1)
    assert violates(lambda: lease(item, worker, **fields))
