"""The worker API's claim and submit: a bounded number of queries, and hand-written SQL that
stores exactly what the ORM would (money, times, JSON), on SQLite and on PostgreSQL.

Counts include the SAVEPOINT/RELEASE pair that the test's own transaction adds around each
service's ``atomic()`` block (in production that block is a plain BEGIN/COMMIT).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from billing.services import counters_sql
from tasks.models import Assignment, Item, Project
from workers.models import WorkerStanding


def client_for(worker) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=worker.user).key}")
    return client


def cycle(client, project, label="pos"):
    with CaptureQueriesContext(connection) as claim_q:
        claimed = client.post(f"/api/v1/projects/{project.pk}/assignments/")
    assert claimed.status_code == 201, claimed.content
    with CaptureQueriesContext(connection) as submit_q:
        submitted = client.post(
            f"/api/v1/assignments/{claimed.json()['id']}/submit/", {"label": label}, format="json"
        )
    assert submitted.status_code == 200, submitted.content
    return claimed.json(), submitted.json(), len(claim_q), len(submit_q)


def test_claim_and_submit_of_a_qualified_worker_stay_within_their_query_budget(
    live_project, make_worker
):
    project = live_project(tasks=20, reward=Decimal("0.0125"), budget=Decimal("10"))
    client = client_for(make_worker())
    cycle(client, project)  # first contact: the standing is created
    body, result, claim_queries, submit_queries = cycle(client, project, "neg")
    postgres = connection.vendor == "postgresql"
    # auth, SAVEPOINT, standing+project+live lease, pick+lease+item count+counters+ledger,
    # RELEASE; SQLite sends the fused statements one by one.
    assert claim_queries <= (5 if postgres else 9)
    # auth, SAVEPOINT, standing+project+assignment+item, answer+answers, item+standing,
    # RELEASE, refit counter.
    assert submit_queries <= (7 if postgres else 10)
    assert result == {"status": "submitted", "reward": "0.0125"}
    assert set(body) == {"id", "item", "labels", "expires_at", "is_exam"}
    assert body["labels"] == ["pos", "neg"] and body["is_exam"] is False


def test_hand_written_writes_read_back_as_the_orm_writes_them(live_project, make_worker):
    project = live_project(tasks=3, reward=Decimal("0.0125"), budget=Decimal("10"), min_overlap=1)
    worker = make_worker()
    client = client_for(worker)
    body, _, _, _ = cycle(client, project, "neg")
    stored = Assignment.objects.get(pk=body["id"])
    assert stored.worker_id == worker.pk and stored.item_id == body["item"]["id"]
    assert stored.status == "submitted" and stored.label == "neg"
    assert stored.reward == Decimal("0.0125")
    assert stored.expires_at - stored.leased_at == project.assignment_duration
    assert stored.submitted_at >= stored.leased_at and stored.seconds_spent >= 0
    assert body["expires_at"].endswith("Z")
    # Time filters compare stored times as the ORM writes them (text on SQLite).
    assert Assignment.objects.filter(pk=stored.pk, expires_at__gt=stored.leased_at).exists()
    assert Assignment.objects.filter(pk=stored.pk, submitted_at=stored.submitted_at).exists()
    item = Item.objects.get(pk=stored.item_id)
    assert (item.answers_count, item.leases_count) == (1, 0)
    assert item.payload == body["item"]["payload"]
    project.refresh_from_db()
    assert project.reserved == Decimal("0.0125") and project.spent == 0
    assert project.answers_since_refit == 1
    entry = LedgerEntry.objects.get(assignment=stored)
    assert (entry.movement, entry.amount, entry.worker_id) == (
        "reserve",
        Decimal("0.0125"),
        worker.pk,
    )
    assert entry.created_at is not None and entry.day is not None
    standing = WorkerStanding.objects.get(worker=worker, project=project)
    assert standing.answers == 1


def test_a_draft_project_or_someone_elses_assignment_is_404(live_project, make_worker):
    project = live_project(tasks=2)
    draft = Project.objects.create(
        owner=project.owner, name="draft", labels=["a", "b"], reward=1, budget=1
    )
    mine, other = client_for(make_worker()), client_for(make_worker())
    assert mine.post(f"/api/v1/projects/{draft.pk}/assignments/").status_code == 404
    assert mine.post("/api/v1/projects/999999/assignments/").status_code == 404
    lease = mine.post(f"/api/v1/projects/{project.pk}/assignments/").json()
    url = f"/api/v1/assignments/{lease['id']}/submit/"
    assert other.post(url, {"label": "pos"}, format="json").status_code == 404
    assert other.post(url, {"label": ""}, format="json").status_code == 404
    assert mine.post(url, {"label": ""}, format="json").status_code == 400
    assert mine.post(url, {"label": "pos"}, format="json").status_code == 200


@pytest.mark.postgres
def test_postgresql_keeps_the_repeated_claim_and_submit_statements_prepared(
    live_project, make_worker
):
    """A statement run a few times on a connection is prepared, so PostgreSQL stops parsing and
    planning it on every claim (half the database's CPU per cycle, docs/benchmarks.md)."""
    project = live_project(tasks=40, reward=Decimal("0.0125"), budget=Decimal("10"))
    client = client_for(make_worker())
    for n in range(8):
        cycle(client, project, ("pos", "neg")[n % 2])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("tasks_item" in sql and "FOR UPDATE" in sql for sql in prepared), prepared
    assert any("authtoken_token" in sql for sql in prepared), prepared


@pytest.mark.postgres
def test_postgresql_statements_of_claim_and_submit_are_short_enough_for_psycopg_to_cache(
    live_project, make_worker
):
    """psycopg parses a statement's placeholders once and caches the result, but only for
    statements up to ``MAX_CACHED_STATEMENT_LENGTH`` bytes and ``MAX_CACHED_STATEMENT_PARAMS``
    parameters; a longer one is parsed again on every execution (the fused claim was, 0.27 ms
    of Python a claim, until its final SELECT stopped repeating the project's columns)."""
    from psycopg import _queries  # noqa: PLC0415

    project = live_project(tasks=20, reward=Decimal("0.0125"), budget=Decimal("10"))
    client = client_for(make_worker())
    cycle(client, project)  # first contact: the standing is created; qualified from here on
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        cycle(client, project, "neg")
    assert any("FOR UPDATE" in sql and "INSERT INTO" in sql for sql, _ in sent), sent
    for sql, params in sent:
        assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, sql
        assert len(params or ()) <= _queries.MAX_CACHED_STATEMENT_PARAMS, sql


def test_a_claim_whose_budget_check_fails_in_the_statement_leases_nothing(
    live_project, make_worker, monkeypatch
):
    """The budget read at the claim's start allowed one more answer, but the compare-and-swap on
    the counters did not move them (another claim took the money in between): no lease, no
    ledger row, the item's slot and the counters as they were, and 409."""
    from tasks import routing  # noqa: PLC0415

    project = live_project(tasks=5, reward=Decimal("0.0125"), budget=Decimal("10"))
    client = client_for(make_worker())
    cycle(client, project)  # first contact: the standing is created; qualified from here on

    def no_money_left(**kwargs):
        sql, params = counters_sql(**kwargs)
        return sql + " AND 1 = 0", params

    monkeypatch.setattr(routing, "counters_sql", no_money_left)
    monkeypatch.setattr(routing, "counters_move", lambda **kwargs: False)
    before = (
        Assignment.objects.count(),
        LedgerEntry.objects.count(),
        list(Item.objects.order_by("pk").values_list("leases_count", flat=True)),
        Project.objects.values_list("reserved", "spent").get(pk=project.pk),
    )
    response = client.post(f"/api/v1/projects/{project.pk}/assignments/")
    assert response.status_code == 409, response.content
    assert (
        Assignment.objects.count(),
        LedgerEntry.objects.count(),
        list(Item.objects.order_by("pk").values_list("leases_count", flat=True)),
        Project.objects.values_list("reserved", "spent").get(pk=project.pk),
    ) == before
