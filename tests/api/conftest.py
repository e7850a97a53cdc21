"""Fixtures of the API tests: every role with a token, one small world they all look at, and a
snapshot of the whole database to prove that a refused request changed nothing."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.selectors import all_balances
from tasks.models import Assignment, Item, Project
from tasks.roles import MANAGERS
from tasks.routing import answer_submit, assignment_claim, standing_get
from tasks.services import project_pause
from workers.services import standing_block

ROLES = [
    "anonymous",
    "worker",
    "blocked_worker",
    "owner",
    "other_requester",
    "manager",
    "superuser",
    "outsider",
]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counts live in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def manager(db, django_user_model):
    user = django_user_model.objects.create_user(
        username="maria-manager", password="x-long-password-1", is_staff=True
    )
    user.groups.add(Group.objects.get(name=MANAGERS))
    return user


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@dataclass
class World:
    """The owner's active project (with items, an answer, a live lease, a blocked worker), a
    paused one, and a client for every role."""

    project: Project
    paused: Project
    item: Item
    answer: Assignment
    lease: Assignment
    users: dict = field(default_factory=dict)
    workers: dict = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        return token_client(self.users[role])


@pytest.fixture
def world(
    requester,
    other_requester,
    manager,
    superuser,
    outsider,
    worker,
    make_worker,
    live_project,
) -> World:
    project = live_project(tasks=4, gold=2)
    paused = project_pause(project=live_project(tasks=2, name="Paused project"))
    first = assignment_claim(worker=worker, project=project)
    answer_submit(assignment=first, worker=worker, label="pos")
    lease = assignment_claim(worker=worker, project=project)
    blocked = make_worker("bert-blocked")
    standing = standing_get(worker=blocked, project=project)
    standing_block(standing=standing, reason="Exam failed: 0 of 4 right.", rule="exam")
    return World(
        project=project,
        paused=paused,
        item=first.item,
        answer=Assignment.objects.get(pk=first.pk),
        lease=lease,
        users={
            "anonymous": None,
            "worker": worker.user,
            "blocked_worker": blocked.user,
            "owner": requester,
            "other_requester": other_requester,
            "manager": manager,
            "superuser": superuser,
            "outsider": outsider,
        },
        workers={"worker": worker, "blocked_worker": blocked},
    )


def db_snapshot() -> dict:
    """Every row of every table, and every ledger balance."""
    rows = {}
    for model in apps.get_models():
        if model._meta.label in ("sessions.Session",):
            continue
        rows[model._meta.label] = list(model.objects.order_by("pk").values_list())
    return {"rows": rows, "balances": all_balances()}


def snapshot_diff(before: dict, after: dict) -> list[str]:
    problems = []
    for label, old in before["rows"].items():
        new = after["rows"][label]
        if len(old) != len(new):
            problems.append(f"{label}: {len(old)} rows before, {len(new)} after")
        elif old != new:
            problems.append(f"{label}: rows changed")
    if before["balances"] != after["balances"]:
        problems.append(f"ledger balances changed: {before['balances']} → {after['balances']}")
    return problems


@pytest.fixture
def unchanged():
    """``with unchanged(): …`` fails if the block changed any row or ledger balance."""

    class Guard:
        def __enter__(self):
            self.before = db_snapshot()

        def __exit__(self, *exc):
            if exc[0] is None:
                problems = snapshot_diff(self.before, db_snapshot())
                assert not problems, problems

    return Guard


MONEY_ZERO = Decimal("0")
