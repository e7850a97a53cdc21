"""The worker API contract, as any client (the browser UI, a script) sees it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tasks.models import Assignment, Project
from tasks.routing import answer_submit, assignment_claim
from tests.conftest import PASSWORD


@pytest.fixture
def api(worker):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/",
        {"username": worker.user.username, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def claim(api, project):
    return api.post(f"/api/v1/projects/{project.pk}/assignments/")


def test_token_login_refuses_a_wrong_password(worker):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": worker.user.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400


def test_claim_submit_cycle(api, live_project):
    project = live_project(tasks=2)
    response = claim(api, project)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "item", "labels", "expires_at", "is_exam"}
    assert body["labels"] == ["pos", "neg"] and body["is_exam"] is False
    assert body["item"]["payload"] == {"text": "task text 0"}
    response = api.post(
        f"/api/v1/assignments/{body['id']}/submit/", {"label": "pos"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"status": "submitted", "reward": "0.0500"}


def test_no_work_is_204(api, live_project):
    project = live_project(tasks=1)
    assignment = claim(api, project).json()
    api.post(f"/api/v1/assignments/{assignment['id']}/submit/", {"label": "pos"}, format="json")
    assert claim(api, project).status_code == 204


def test_blocked_worker_gets_403_with_the_reason(api, live_project):
    project = live_project(tasks=2, gold=2, exam_size=2, exam_pass_accuracy=1.0)
    for _ in range(2):
        a = claim(api, project).json()
        assert a["is_exam"] is True
        api.post(f"/api/v1/assignments/{a['id']}/submit/", {"label": "neg"}, format="json")
    response = claim(api, project)
    assert response.status_code == 403
    assert "Exam failed: 0 of 2 right" in response.json()["detail"]
    me = api.get("/api/v1/me/").json()
    assert me["blocks"][0]["reason"].startswith("Exam failed")


def test_used_up_budget_is_409(api, live_project):
    project = live_project(tasks=2, budget="0.0400")
    response = claim(api, project)
    assert response.status_code == 409 and "budget" in response.json()["detail"]


def test_draft_or_unknown_project_is_404(api, project):
    assert claim(api, project).status_code == 404
    assert api.post("/api/v1/projects/99999/assignments/").status_code == 404


def test_paused_project_is_403(api, live_project):
    project = live_project(tasks=1)
    Project.objects.filter(pk=project.pk).update(status="paused")
    assert claim(api, project).status_code == 403


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"label": "maybe"}, "not a label"),
        ({}, "required"),
        ({"label": ""}, "blank"),
        ("nonsense", ""),
    ],
)
def test_bad_submissions_are_400_and_store_nothing(api, live_project, body, expected):
    project = live_project(tasks=1)
    a = claim(api, project).json()
    if isinstance(body, str):
        response = api.post(
            f"/api/v1/assignments/{a['id']}/submit/", body, content_type="application/json"
        )
    else:
        response = api.post(f"/api/v1/assignments/{a['id']}/submit/", body, format="json")
    assert response.status_code == 400
    assert expected in json.dumps(response.json())
    assert Assignment.objects.get(pk=a["id"]).status == "leased"


def test_expired_lease_is_409(api, live_project, worker):
    project = live_project(tasks=1)
    lease = assignment_claim(
        worker=worker, project=project, now=timezone.now() - timedelta(hours=1)
    )
    response = api.post(f"/api/v1/assignments/{lease.pk}/submit/", {"label": "pos"}, format="json")
    assert response.status_code == 409 and "expired" in response.json()["detail"]
    assert Assignment.objects.get(pk=lease.pk).label == ""


def test_another_workers_assignment_is_404(api, live_project, make_worker):
    project = live_project(tasks=1)
    other = make_worker()
    lease = assignment_claim(worker=other, project=project)
    assert (
        api.post(
            f"/api/v1/assignments/{lease.pk}/submit/", {"label": "pos"}, format="json"
        ).status_code
        == 404
    )
    assert api.post(f"/api/v1/assignments/{lease.pk}/skip/").status_code == 404
    assert Assignment.objects.get(pk=lease.pk).status == "leased"


def test_skip(api, live_project):
    project = live_project(tasks=2)
    a = claim(api, project).json()
    assert api.post(f"/api/v1/assignments/{a['id']}/skip/").status_code == 200
    assert api.post(f"/api/v1/assignments/{a['id']}/skip/").status_code == 409
    assert claim(api, project).json()["item"]["id"] != a["item"]["id"]


@pytest.mark.parametrize("persona", ["requester", "outsider", None])
def test_non_workers_cannot_use_the_worker_api(client, request, live_project, persona):
    project = live_project(tasks=1)
    api = APIClient()
    if persona:
        api.force_authenticate(request.getfixturevalue(persona))
    for method, url in [
        ("post", f"/api/v1/projects/{project.pk}/assignments/"),
        ("get", "/api/v1/projects/available/"),
        ("get", "/api/v1/me/"),
        ("post", "/api/v1/assignments/1/submit/"),
    ]:
        assert getattr(api, method)(url).status_code in (401, 403)
    assert not Assignment.objects.exists()


def test_available_projects_show_the_workers_standing(api, live_project, worker):
    exam_project = live_project(tasks=1, gold=2, exam_size=2)
    open_project = live_project(tasks=1)
    Project.objects.create(
        owner=open_project.owner, name="draft", labels=["a", "b"], reward=1, budget=1
    )
    claim(api, exam_project)
    rows = {p["id"]: p for p in api.get("/api/v1/projects/available/").json()}
    assert set(rows) == {exam_project.pk, open_project.pk}
    assert rows[exam_project.pk]["standing"] == {
        "state": "exam",
        "reason": "",
        "exam_answered": 0,
        "exam_size": 2,
    }
    assert rows[open_project.pk]["standing"]["state"] == "new"
    assert rows[open_project.pk]["reward"] == "0.0500"


def test_me_shows_answers_and_pending_earnings(api, live_project):
    project = live_project(tasks=3)
    for _ in range(2):
        a = claim(api, project).json()
        api.post(f"/api/v1/assignments/{a['id']}/submit/", {"label": "pos"}, format="json")
    me = api.get("/api/v1/me/").json()
    assert me["answers"] == 2
    assert me["earnings"] == {"pending": "0.1000", "approved": "0.0000", "paid": "0.0000"}
    assert me["blocks"] == []


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    else:
        yield str(value)


def test_no_worker_response_reveals_gold_other_answers_or_budget(api, live_project, make_worker):
    """Walk every worker endpoint through exam, gold and task items and look for leaks."""
    project = live_project(
        tasks=4, gold=4, exam_size=2, gold_rate=0.5, budget="987.6543", min_overlap=3, max_overlap=3
    )
    other = make_worker()
    for _ in range(4):  # another worker's answers, with a label that stands out
        lease = assignment_claim(worker=other, project=project)
        if lease and lease.kind == "task":
            answer_submit(assignment=lease, worker=other, label="neg")
    bodies = []
    for _ in range(8):
        response = claim(api, project)
        if response.status_code == 204:
            break
        a = response.json()
        bodies.append(a)
        bodies.append(
            api.post(
                f"/api/v1/assignments/{a['id']}/submit/", {"label": "pos"}, format="json"
            ).json()
        )
    bodies.append(api.get("/api/v1/projects/available/").json())
    bodies.append(api.get("/api/v1/me/").json())
    assert any(b.get("is_exam") for b in bodies if isinstance(b, dict))
    strings = [s for body in bodies for s in _strings(body)]
    text = " ".join(strings)
    for secret in [
        "gold",
        "987.6543",
        "budget",
        "reserved",
        "spent",
        other.user.username,
        "confidence",
    ]:
        assert secret not in text, secret
    # Gold items look exactly like task items: same keys, no label in the payload.
    items = [b["item"] for b in bodies if isinstance(b, dict) and "item" in b]
    assert all(set(i) == {"id", "payload"} and set(i["payload"]) == {"text"} for i in items)
