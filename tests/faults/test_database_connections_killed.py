"""The application's PostgreSQL connections terminated (``pg_terminate_backend``) under load:
503s while they are gone, never a 500, no answer lost or stored twice, the ledger balanced."""

import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.db.models import Count, Q, Sum
from rest_framework.authtoken.models import Token

from billing.selectors import ledger_mismatches
from tasks.models import Assignment, Item

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

CLIENTS = 8
TERMINATIONS = 16


def terminate_application_connections() -> int:
    """Every connection of the live server to the test database, cut from the server side."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_terminated_connections_give_503_and_lose_nothing(live_server, live_project, make_worker):
    project = live_project(
        tasks=400, min_overlap=1, max_overlap=1, refit_every=100_000, budget=Decimal("100")
    )
    tokens = []
    for _ in range(CLIENTS):
        worker = make_worker()
        tokens.append(Token.objects.get_or_create(user=worker.user)[0].key)
    statuses: Counter[int] = Counter()
    confirmed: dict[int, str] = {}
    problems: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(session, path, **kwargs):
        """POST, retrying while the service says 503 (as a client honouring Retry-After would,
        only faster); returns the final response."""
        for _ in range(200):
            response = session.post(live_server.url + path, timeout=30, **kwargs)
            with lock:
                statuses[response.status_code] += 1
            if response.status_code != 503:
                return response
            if response.headers.get("Retry-After") != "5" or (
                response.json().get("code") != "database_unavailable"
            ):
                problems.append(f"a 503 without Retry-After or its code: {response.text}")
            time.sleep(0.02)
        problems.append(f"{path} still 503 after 200 tries")
        return response

    def client(n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {tokens[n]}"
        label = project.labels[n % 2]
        try:
            while not stop.is_set():
                claim = post(session, f"/api/v1/projects/{project.pk}/assignments/")
                if claim.status_code == 204:
                    return  # no work left
                if claim.status_code != 201:
                    problems.append(f"claim: {claim.status_code} {claim.text[:300]}")
                    return
                lease = claim.json()["id"]
                submit = post(
                    session, f"/api/v1/assignments/{lease}/submit/", json={"label": label}
                )
                if submit.status_code != 200:
                    problems.append(f"submit: {submit.status_code} {submit.text[:300]}")
                    return
                with lock:
                    if lease in confirmed:
                        problems.append(f"lease {lease} handed out again after its answer")
                    confirmed[lease] = label
        except Exception as exc:
            problems.append(repr(exc))

    # The first request loads the URLs and the API (seconds): not part of the load.
    warm = requests.get(
        live_server.url + "/api/v1/me/", headers={"Authorization": f"Token {tokens[0]}"}, timeout=60
    )
    assert warm.status_code == 200
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    terminated = 0
    try:
        for _ in range(TERMINATIONS):
            time.sleep(0.25)
            terminated += terminate_application_connections()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a client hung"

    assert not problems, problems[:5]
    assert statuses[500] == 0
    assert set(statuses) <= {200, 201, 204, 503}, statuses
    assert terminated and statuses[503], (
        f"the fault did not reach a request ({terminated} connections cut, {statuses})"
    )
    # Every confirmed answer stored once with its label, nothing stored that was not confirmed.
    answered = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    assert dict(answered.values_list("pk", "label")) == confirmed
    assert len(confirmed) > 50
    # Item counters agree with the rows; the money agrees with the ledger.
    for item in Item.objects.filter(project=project).annotate(
        answered=Count("assignments", filter=Q(assignments__status__in=Assignment.ANSWERED)),
        leased=Count("assignments", filter=Q(assignments__status="leased")),
    ):
        assert (item.answers_count, item.leases_count) == (item.answered, item.leased)
        assert item.answered + item.leased <= project.max_overlap
    project.refresh_from_db()
    held = Assignment.objects.filter(project=project, status__in=["leased", "submitted"]).aggregate(
        s=Sum("reward")
    )["s"] or Decimal(0)
    assert project.reserved == held
    assert ledger_mismatches(project=project) == []
    print(f"{terminated} connections cut; responses {dict(statuses)}; {len(confirmed)} answers")
