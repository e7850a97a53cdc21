"""Bad input of every kind gets a 4xx with a message, and leaves the database as it was.

Malformed JSON, wrong types, unknown labels, oversized bodies, characters no database keeps,
other tenants' ids: each request below is refused with the status it names and a message that
says what was wrong, and afterwards every table and every ledger balance is unchanged.
Unicode and HTML are not bad input: they are kept exactly (see the last tests).
"""

import json

import pytest
from django.urls import reverse

from tasks.models import Item, Project

P = "/api/v1/projects"
VALID = {"name": "New", "labels": ["yes", "no"], "reward": "0.02", "budget": "5"}


def _json(client, method, url, body):
    return getattr(client, method)(url, body, format="json")


def _raw(client, method, url, body: bytes, content_type="application/json"):
    return getattr(client, method)(url, body, content_type=content_type)


# (id, role, method, url template, how to send, body, status, words the message must contain)
CASES = [
    # Malformed and mistyped JSON.
    ("malformed json", "owner", "post", "{P}/", "raw", b'{"name": ', 400, "JSON parse error"),
    ("json not an object", "owner", "post", "{P}/", "json", ["a"], 400, "Expected a dictionary"),
    ("wrong types", "owner", "post", "{P}/", "json", {**VALID, "labels": "yes"}, 400, "list"),
    (
        "reward not money",
        "owner",
        "post",
        "{P}/",
        "json",
        {**VALID, "reward": "abc"},
        400,
        "number",
    ),
    ("negative reward", "owner", "post", "{P}/", "json", {**VALID, "reward": "-1"}, 400, "greater"),
    ("one label", "owner", "post", "{P}/", "json", {**VALID, "labels": ["x"]}, 400, "at least 2"),
    (
        "same label twice",
        "owner",
        "post",
        "{P}/",
        "json",
        {**VALID, "labels": ["a", "a"]},
        400,
        "distinct",
    ),
    (
        "overlap inverted",
        "owner",
        "post",
        "{P}/",
        "json",
        {**VALID, "min_overlap": 5, "max_overlap": 2},
        400,
        "overlap",
    ),
    (
        "confidence out of range",
        "owner",
        "post",
        "{P}/",
        "json",
        {**VALID, "target_confidence": 2},
        400,
        "less than or equal",
    ),
    ("unknown field", "owner", "post", "{P}/", "json", {**VALID, "colour": "red"}, 400, "Unknown"),
    ("name too long", "owner", "post", "{P}/", "json", {**VALID, "name": "n" * 201}, 400, "200"),
    (
        "budget in a patch",
        "owner",
        "patch",
        "{P}/{project}/",
        "json",
        {"budget": "1000000"},
        400,
        "topup",
    ),
    (
        "labels of a project with items",
        "owner",
        "patch",
        "{P}/{project}/",
        "json",
        {"labels": ["a", "b"]},
        409,
        "labels",
    ),
    ("negative top-up", "owner", "post", "{P}/{project}/topup/", "json", {"amount": "-5"}, 400, ""),
    (
        "top-up past the largest amount",
        "owner",
        "post",
        "{P}/{project}/topup/",
        "json",
        {"amount": "9999999999"},
        400,
        "cannot pass",
    ),
    (
        "body over 1 MB",
        "owner",
        "post",
        "{P}/",
        "json",
        {**VALID, "x": "y" * 1_100_000},
        413,
        "limit",
    ),
    # Imports: the admin's validation, all or nothing.
    (
        "import: unknown gold label",
        "owner",
        "post",
        "{P}/{project}/items/import/?format=jsonl",
        "raw-jsonl",
        b'{"external_id": "n1", "text": "a"}\n{"external_id": "n2", "gold_label": "maybe"}\n',
        400,
        "line 2: gold label 'maybe'",
    ),
    (
        "import: duplicate and existing ids",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw-csv",
        b"external_id,text\nn1,a\nn1,b\nt0,c\n",
        400,
        "line 3: duplicate external_id",
    ),
    (
        "import: no external_id column",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw-csv",
        b"id,text\n1,a\n",
        400,
        "missing column 'external_id'",
    ),
    (
        "import: not UTF-8",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw-csv",
        b"external_id,text\nn1,caf\xe9\n",
        400,
        "not valid UTF-8",
    ),
    (
        "import: NUL character",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "json",
        [{"external_id": "n1", "text": "a\x00b"}],
        400,
        "line 1: contains a NUL",
    ),
    (
        "import: malformed JSON line",
        "owner",
        "post",
        "{P}/{project}/items/import/?format=jsonl",
        "raw-jsonl",
        b'{"external_id": "n1"\n',
        400,
        "line 1: invalid JSON",
    ),
    (
        "import: JSON object instead of a list",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "json",
        {"external_id": "n1"},
        400,
        "list of items",
    ),
    (
        "import: item not an object",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "json",
        [{"external_id": "n1"}, 5],
        400,
        "line 2: each line must be a JSON object",
    ),
    (
        "import: unknown format",
        "owner",
        "post",
        "{P}/{project}/items/import/?format=xlsx",
        "raw-csv",
        b"external_id\nn1\n",
        400,
        "Unknown format",
    ),
    (
        "import: no format",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw-text",
        b"external_id\nn1\n",
        400,
        "format",
    ),
    (
        "import: XML",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw-xml",
        b"<items/>",
        415,
        "application/xml",
    ),
    (
        "import: multipart without file",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "multipart",
        {"other": "x"},
        400,
        "field 'file'",
    ),
    # Filters and formats.
    (
        "items: confidence not a number",
        "owner",
        "get",
        "{P}/{project}/items/?confidence_min=abc",
        "query",
        None,
        400,
        "number",
    ),
    (
        "items: unknown status",
        "owner",
        "get",
        "{P}/{project}/items/?status=x",
        "query",
        None,
        400,
        "valid choice",
    ),
    (
        "results: unknown format",
        "owner",
        "get",
        "{P}/{project}/results/?format=xml",
        "query",
        None,
        400,
        "csv or jsonl",
    ),
    # Answers, workers, money.
    (
        "reject without a reason",
        "owner",
        "post",
        "/api/v1/assignments/{answer}/reject/",
        "json",
        {},
        400,
        "required",
    ),
    (
        "approve a live lease",
        "owner",
        "post",
        "/api/v1/assignments/{lease}/approve/",
        "json",
        None,
        400,
        "not awaiting",
    ),
    (
        "bonus below zero",
        "owner",
        "post",
        "{P}/{project}/workers/{worker}/bonus/",
        "json",
        {"amount": "-1", "reason": "x"},
        400,
        "greater",
    ),
    (
        "bonus without a reason",
        "owner",
        "post",
        "{P}/{project}/workers/{worker}/bonus/",
        "json",
        {"amount": "1"},
        400,
        "required",
    ),
    (
        "bonus past the budget",
        "owner",
        "post",
        "{P}/{project}/workers/{worker}/bonus/",
        "json",
        {"amount": "1000", "reason": "x"},
        409,
        "budget",
    ),
    (
        "unblock a worker who is not blocked",
        "owner",
        "post",
        "{P}/{project}/workers/{worker}/unblock/",
        "json",
        {},
        409,
        "not blocked",
    ),
    (
        "worker: unknown label",
        "worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "json",
        {"label": "maybe"},
        400,
        "maybe",
    ),
    (
        "worker: label of the wrong type",
        "worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "json",
        {"label": ["pos"]},
        400,
        "valid string",
    ),
    (
        "worker: malformed JSON",
        "worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "raw",
        b"{label",
        400,
        "JSON parse error",
    ),
    (
        "worker: JSON nested too deeply",
        "worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "raw",
        b'{"label": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "nested too deeply",
    ),
    (
        "import: a JSON body nested too deeply",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw",
        b'[{"external_id": "d1", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        400,
        "nested too deeply",
    ),
    (
        "import: a JSON line nested too deeply",
        "owner",
        "post",
        "{P}/{project}/items/import/?format=jsonl",
        "raw-jsonl",
        b'{"external_id": "d0"}\n{"external_id": "d1", "payload": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n",
        400,
        "line 2: invalid JSON (nested too deeply)",
    ),
    (
        "import: a JSON body whose item nests 200 levels",
        "owner",
        "post",
        "{P}/{project}/items/import/",
        "raw",
        b'[{"external_id": "d0"}, {"external_id": "d1", "payload": {"a": '
        + b"[" * 200
        + b"]" * 200
        + b"}}]",
        400,
        "line 2: item nested deeper than 32 levels",
    ),
    (
        "import: a JSON line whose item nests 40 levels",
        "owner",
        "post",
        "{P}/{project}/items/import/?format=jsonl",
        "raw-jsonl",
        b'{"external_id": "d1", "payload": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}\n",
        400,
        "line 1: item nested deeper than 32 levels",
    ),
    (
        "token login: JSON nested too deeply",
        "anonymous",
        "post",
        "/api/v1/auth/token/",
        "raw",
        b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "nested too deeply",
    ),
    (
        "worker: a submit's body over 1 MB",
        "worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "json",
        {"label": "pos", "note": "y" * 1_100_000},
        413,
        "limit",
    ),
    (
        "worker: a claim's body over 1 MB",
        "worker",
        "post",
        "{P}/{project}/assignments/",
        "json",
        {"x": "y" * 1_100_000},
        413,
        "limit",
    ),
    (
        "token login: body over 1 MB",
        "anonymous",
        "post",
        "/api/v1/auth/token/",
        "json",
        {"username": "a", "password": "y" * 1_100_000},
        413,
        "limit",
    ),
    # Other tenants' ids: indistinguishable from ids that do not exist.
    (
        "other tenant: read",
        "other_requester",
        "get",
        "{P}/{project}/",
        "query",
        None,
        404,
        "No Project",
    ),
    (
        "other tenant: patch",
        "other_requester",
        "patch",
        "{P}/{project}/",
        "json",
        {"name": "mine"},
        404,
        "No Project",
    ),
    (
        "other tenant: import",
        "other_requester",
        "post",
        "{P}/{project}/items/import/",
        "json",
        [{"external_id": "z"}],
        404,
        "No Project",
    ),
    (
        "other tenant: approve",
        "other_requester",
        "post",
        "/api/v1/assignments/{answer}/approve/",
        "json",
        None,
        404,
        "No Assignment",
    ),
    (
        "other tenant: bonus",
        "other_requester",
        "post",
        "{P}/{project}/workers/{worker}/bonus/",
        "json",
        {"amount": "1", "reason": "x"},
        404,
        "No Project",
    ),
    (
        "item of another project",
        "owner",
        "get",
        "{P}/{paused}/items/{item}/answers/",
        "query",
        None,
        404,
        "No Item",
    ),
    (
        "worker: someone else's lease",
        "blocked_worker",
        "post",
        "/api/v1/assignments/{lease}/submit/",
        "json",
        {"label": "pos"},
        404,
        "No Assignment",
    ),
]


def _send(client, method, url, how, body):
    if how == "json":
        return _json(client, method, url, body)
    if how == "query":
        return client.get(url)
    if how == "multipart":
        return client.post(url, body, format="multipart")
    content_type = {
        "raw": "application/json",
        "raw-csv": "text/csv",
        "raw-jsonl": "application/x-ndjson",
        "raw-text": "text/plain",
        "raw-xml": "application/xml",
    }[how]
    return _raw(client, method, url, body, content_type)


@pytest.mark.parametrize(
    ("role", "method", "template", "how", "body", "expected", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    world, unchanged, role, method, template, how, body, expected, words
):
    url = template.format(
        P=P,
        project=world.project.pk,
        paused=world.paused.pk,
        item=world.item.pk,
        answer=world.answer.pk,
        lease=world.lease.pk,
        worker=world.workers["worker"].pk,
    )
    client = world.client(role)
    with unchanged():
        response = _send(client, method, url, how, body)
    assert response.status_code == expected, response.content[:500]
    text = json.dumps(response.json(), ensure_ascii=False)
    assert words.lower() in text.lower(), text


def test_an_import_over_the_size_limit_is_413_before_it_is_read(world, unchanged, settings):
    settings.IMPORT_MAX_BYTES = 1000
    client = world.client("owner")
    body = b"external_id,text\n" + b"".join(b"n%d,%s\n" % (k, b"x" * 50) for k in range(100))
    url = f"{P}/{world.project.pk}/items/import/"
    with unchanged():
        raw = client.post(url, body, content_type="text/csv")
        upload = client.post(url, {"file": _file("items.csv", body)}, format="multipart")
    for response in (raw, upload):
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert "limit is 1,000 bytes" in detail and "Split the file" in detail


def _file(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: PLC0415

    return SimpleUploadedFile(name, data)


# Characters no database keeps, in every text field a requester or a worker sends.
TEXT_FIELDS = [
    ("post", "{P}/", lambda v: {**VALID, "name": v}),
    ("post", "{P}/", lambda v: {**VALID, "description": v}),
    ("post", "{P}/", lambda v: {**VALID, "instructions": v}),
    ("post", "{P}/", lambda v: {**VALID, "labels": [v, "no"]}),
    ("patch", "{P}/{project}/", lambda v: {"name": v}),
    ("post", "{P}/{project}/topup/", lambda v: {"amount": "1", "reason": v}),
    ("post", "{P}/{project}/workers/{worker}/bonus/", lambda v: {"amount": "1", "reason": v}),
    ("post", "{P}/{project}/workers/{blocked}/unblock/", lambda v: {"reason": v}),
    ("post", "/api/v1/assignments/{answer}/reject/", lambda v: {"reason": v}),
]


@pytest.mark.parametrize(
    "bad", ["nul \x00 inside", "lone surrogate \ud800"], ids=["nul", "surrogate"]
)
@pytest.mark.parametrize(("method", "template", "body"), TEXT_FIELDS)
def test_text_no_database_can_keep_is_refused_in_every_field(
    world, unchanged, bad, method, template, body
):
    url = template.format(
        P=P,
        project=world.project.pk,
        worker=world.workers["worker"].pk,
        blocked=world.workers["blocked_worker"].pk,
        answer=world.answer.pk,
    )
    # json.dumps escapes the surrogate as \\ud800, which is how a client would send it.
    raw = json.dumps(body(bad)).encode()
    client = world.client("owner")
    with unchanged():
        response = client.generic(method.upper(), url, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "character" in response.content.decode().lower()


UNICODE_HTML = "<script>alert('x')</script> <b>Ünïcødé</b> 😀 مرحبا \u202e & \"quotes\""


def test_unicode_and_html_are_kept_exactly_and_escaped_in_pages(world, client):
    api = world.client("owner")
    created = api.post(
        f"{P}/",
        {
            **VALID,
            "name": UNICODE_HTML[:200],
            "description": UNICODE_HTML,
            "instructions": UNICODE_HTML,
            "labels": ["<i>yes</i>", "nö 😀"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    project = created.json()
    assert project["name"] == UNICODE_HTML[:200]
    assert project["instructions"] == UNICODE_HTML
    assert project["labels"] == ["<i>yes</i>", "nö 😀"]
    items = [
        {"external_id": "<img src=x onerror=alert(1)>", "gold_label": "nö 😀", "text": UNICODE_HTML}
    ]
    imported = api.post(f"{P}/{project['id']}/items/import/", items, format="json")
    assert imported.status_code == 201, imported.content
    listed = api.get(f"{P}/{project['id']}/items/").json()["results"][0]
    assert listed["external_id"] == "<img src=x onerror=alert(1)>"
    assert listed["payload"] == {"text": UNICODE_HTML}
    assert listed["gold_label"] == "nö 😀"
    # The admin shows the same text escaped, never as markup.
    client.force_login(world.users["owner"])
    page = client.get(reverse("admin:tasks_project_changelist")).content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert Project.objects.get(pk=project["id"]).name == UNICODE_HTML[:200]
    assert Item.objects.get(project_id=project["id"]).payload["text"] == UNICODE_HTML


def test_every_api_view_refuses_a_body_over_its_limit():
    """The body limit is one mixin; a view of the API without it would read any body up to the
    size of an item import (``DATA_UPLOAD_MAX_MEMORY_SIZE``)."""
    from django.urls import get_resolver  # noqa: PLC0415
    from rest_framework.views import APIView  # noqa: PLC0415

    from hitl_platform.request_body import BodyLimit  # noqa: PLC0415

    def views(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                yield from views(pattern.url_patterns, route)
            elif getattr(pattern.callback, "cls", None) is not None:
                yield route, pattern.callback.cls

    ours = [
        (route, cls)
        for route, cls in views(get_resolver().url_patterns)
        if issubclass(cls, APIView) and not cls.__module__.startswith("drf_spectacular")
    ]
    assert len(ours) > 20, ours
    assert [(route, cls.__name__) for route, cls in ours if not issubclass(cls, BodyLimit)] == []
