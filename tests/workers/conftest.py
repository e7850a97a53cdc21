"""Fixtures of the crowd worker UI tests: a logged-in browser-less client, a 10,000-item
project, and (for tests marked ``browser``) one headless Chromium per module."""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client

from tasks.models import Item, Project
from tasks.services import items_import, project_publish
from tests.conftest import PASSWORD


@pytest.fixture
def login_client():
    """``login_client(worker)``: a test client signed in as that worker."""

    def make(worker, **kwargs) -> Client:
        client = Client(**kwargs)
        assert client.login(username=worker.user.username, password=PASSWORD)
        return client

    return make


def assignment_id(response) -> int:
    """The assignment shown in a task panel."""
    match = re.search(rb'data-assignment="(\d+)"', response.content)
    assert match, response.content.decode()[:2000]
    return int(match.group(1))


@pytest.fixture
def big_project(requester, project_factory):
    """``big_project(n=10_000)``: an active project of ``n`` open items, bulk-inserted."""

    def make(n=10_000, **fields):
        fields = {"exam_size": 0, "gold_rate": 0.0, "budget": Decimal("10000.0000"), **fields}
        project = project_factory(requester, **fields)
        Item.objects.bulk_create(
            [
                Item(project=project, external_id=f"t{k}", payload={"text": f"item {k}"})
                for k in range(n)
            ],
            batch_size=2000,
        )
        Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
        project.refresh_from_db()
        return project

    return make


@pytest.fixture
def payload_project(requester, project_factory):
    """``payload_project({"text": …}, …, gold=[(payload, label), …], **fields)``: an active
    project whose items have exactly these payloads (imported as JSONL through the real import
    service); ``gold`` items carry their known label."""

    def make(*payloads, gold=(), **fields):
        fields = {"exam_size": 0, "gold_rate": 0.0, **fields}
        project = project_factory(requester, **fields)
        lines = [
            json.dumps({"external_id": f"p{n}", "payload": payload})
            for n, payload in enumerate(payloads)
        ]
        lines += [
            json.dumps({"external_id": f"g{n}", "gold_label": label, "payload": payload})
            for n, (payload, label) in enumerate(gold)
        ]
        items_import(project=project, data="\n".join(lines).encode(), fmt="jsonl")
        return project_publish(project=project)

    return make


def browser_login(page, worker) -> None:
    page.goto(f"{page.base_url}/crowd/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(f"{page.base_url}/crowd/")
