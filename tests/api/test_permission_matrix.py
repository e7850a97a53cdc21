"""Every endpoint × every role → the status code it must answer, for reads and writes.

Each row is an endpoint with the body an allowed caller would send; each column a role. After a
refused request (4xx) the database must be exactly as before: no row and no ledger balance moved.
Every role runs against the same world, rolled back after each request.
"""

import re

import pytest
from django.db import transaction

from hitl_platform.api import urlpatterns

from .conftest import ROLES, db_snapshot, snapshot_diff

#            anonymous, worker, blocked, owner, other_req, manager, superuser, outsider
R = dict(zip(ROLES, [401, 403, 403, 200, 404, 200, 200, 403], strict=True))  # requester reads


def W(ok):  # noqa: N802 - requester writes: the owner and superusers only
    return dict(zip(ROLES, [401, 403, 403, ok, 404, 403, ok, 403], strict=True))


def WORKER(ok, blocked=None, others=403):  # noqa: N802 - the worker's own API
    return dict(
        zip(
            ROLES,
            [401, ok, ok if blocked is None else blocked, others, others, others, others, others],
            strict=True,
        )
    )


P = "/api/v1/projects"
NEW_PROJECT = {"name": "New", "labels": ["yes", "no"], "reward": "0.02", "budget": "5"}

# (name, method, url template, body, {role: status})
MATRIX = [
    ("available", "get", f"{P}/available/", None, WORKER(200)),
    ("claim", "post", f"{P}/{{project}}/assignments/", None, WORKER(201, blocked=403)),
    (
        "submit",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        {"label": "pos"},
        WORKER(200, blocked=404),
    ),
    ("skip", "post", "/api/v1/assignments/{lease}/skip/", None, WORKER(200, blocked=404)),
    ("me", "get", "/api/v1/me/", None, WORKER(200)),
    # The report predates this API: anyone who may not read it gets 404, workers included.
    (
        "report",
        "get",
        f"{P}/{{project}}/report/",
        None,
        {**R, "worker": 404, "blocked_worker": 404, "outsider": 404},
    ),
    ("project list", "get", f"{P}/", None, {**R, "other_requester": 200}),
    ("project create", "post", f"{P}/", NEW_PROJECT, {**W(201), "other_requester": 201}),
    ("project read", "get", f"{P}/{{project}}/", None, R),
    ("project update", "patch", f"{P}/{{project}}/", {"name": "Renamed"}, W(200)),
    ("top up", "post", f"{P}/{{project}}/topup/", {"amount": "5", "reason": "more"}, W(200)),
    ("publish", "post", f"{P}/{{paused}}/publish/", None, W(200)),
    ("pause", "post", f"{P}/{{project}}/pause/", None, W(200)),
    ("finish", "post", f"{P}/{{project}}/finish/", None, W(200)),
    (
        "import",
        "post",
        f"{P}/{{project}}/items/import/",
        [{"external_id": "new-1", "payload": {"text": "hello"}}],
        W(201),
    ),
    ("items", "get", f"{P}/{{project}}/items/?status=open", None, R),
    ("answers", "get", f"{P}/{{project}}/items/{{item}}/answers/", None, R),
    ("results csv", "get", f"{P}/{{project}}/results/?format=csv", None, R),
    ("results jsonl", "get", f"{P}/{{project}}/results/?format=jsonl", None, R),
    ("workers", "get", f"{P}/{{project}}/workers/", None, R),
    (
        "unblock",
        "post",
        f"{P}/{{project}}/workers/{{blocked_worker}}/unblock/",
        {"reason": "second chance"},
        W(200),
    ),
    (
        "expert",
        "post",
        f"{P}/{{project}}/workers/{{worker}}/expert/",
        {"expert": True},
        W(200),
    ),
    (
        "bonus",
        "post",
        f"{P}/{{project}}/workers/{{worker}}/bonus/",
        {"amount": "0.10", "reason": "careful work"},
        W(201),
    ),
    ("approve", "post", "/api/v1/assignments/{answer}/approve/", None, W(200)),
    (
        "reject",
        "post",
        "/api/v1/assignments/{answer}/reject/",
        {"reason": "Not what the instructions ask."},
        W(200),
    ),
]


def _url(template: str, world) -> str:
    return template.format(
        project=world.project.pk,
        paused=world.paused.pk,
        item=world.item.pk,
        answer=world.answer.pk,
        lease=world.lease.pk,
        worker=world.workers["worker"].pk,
        blocked_worker=world.workers["blocked_worker"].pk,
    )


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in MATRIX],
)
def test_every_role_gets_the_expected_status(world, method, template, body, expected):
    url = _url(template, world)
    wrong = []
    for role in ROLES:
        client = world.client(role)
        with transaction.atomic():
            before = db_snapshot()
            response = getattr(client, method)(url, body, format="json")
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            if response.status_code != expected[role]:
                wrong.append(f"{role}: {response.status_code} (expected {expected[role]})")
            if response.status_code >= 400:
                problems = snapshot_diff(before, db_snapshot())
                if problems:
                    wrong.append(f"{role}: refused with {response.status_code} but {problems}")
                if response["Content-Type"].startswith("application/json"):
                    assert response.json().get("detail"), (role, response.json())
            transaction.set_rollback(True)
    assert not wrong, f"{method.upper()} {url}: " + "; ".join(wrong)


def test_the_matrix_covers_every_api_route():
    """A new route without a row in the matrix fails here."""
    in_matrix = {re.sub(r"\{\w+\}", "{}", row[2].split("?")[0]) for row in MATRIX}
    routes = {
        "/api/" + re.sub(r"<int:\w+>", "{}", str(p.pattern))
        for p in urlpatterns
        if p.name not in ("api-schema", "api-docs", "api-token")
    }
    assert routes == in_matrix, routes ^ in_matrix


def test_another_requester_lists_only_their_own_projects(world):
    body = world.client("other_requester").get("/api/v1/projects/").json()
    assert body["count"] == 0 and body["results"] == []
    owner = world.client("owner").get("/api/v1/projects/").json()
    assert {p["id"] for p in owner["results"]} == {world.project.pk, world.paused.pk}
