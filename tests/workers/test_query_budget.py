"""The task page (claim) and the submit page cost a bounded number of SQL queries, whatever the
size of the project: measured on a project of 10,000 items and compared with one of 10.

Counts include the SAVEPOINT/RELEASE pair that the test's own transaction adds around each
service's ``atomic()`` block (in production that block is a plain BEGIN/COMMIT).
"""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.models import Assignment
from tasks.routing import answer_submit, assignment_claim

from .conftest import assignment_id


def task_url(project):
    return f"/crowd/projects/{project.pk}/task/"


def warm_up(client, project) -> int:
    """First contact (creates the standing), one answer, then the next lease: the steady state."""
    first = assignment_id(client.get(task_url(project)))
    assert client.post(f"/crowd/assignments/{first}/submit/", {"label": "pos"}).status_code == 303
    return first


def count(client, method, url, **data) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, data)
    assert response.status_code in (200, 303), response
    return len(ctx)


def test_the_task_page_claims_the_next_item_in_at_most_12_queries(
    big_project, worker, login_client, django_assert_max_num_queries
):
    project = big_project(10_000)
    client = login_client(worker)
    first = warm_up(client, project)
    with django_assert_max_num_queries(12):
        response = client.get(task_url(project))
    assert response.status_code == 200 and assignment_id(response) != first
    assert Assignment.objects.filter(worker=worker, status="leased").count() == 1


def test_reloading_the_task_page_shows_the_live_lease_in_at_most_12_queries(
    big_project, worker, login_client, django_assert_max_num_queries
):
    project = big_project(10_000)
    client = login_client(worker)
    warm_up(client, project)
    lease = assignment_id(client.get(task_url(project)))
    with django_assert_max_num_queries(12):
        response = client.get(task_url(project), HTTP_HX_REQUEST="true")
    assert assignment_id(response) == lease


def test_the_pages_cost_the_same_queries_for_10_and_for_10000_items(
    big_project, make_worker, login_client
):
    counts = {}
    for size in (10, 10_000):
        project = big_project(size, name=f"{size} items")
        client = login_client(make_worker())
        warm_up(client, project)
        claim = count(client, "get", task_url(project))
        lease = assignment_id(client.get(task_url(project)))
        submit = count(client, "post", f"/crowd/assignments/{lease}/submit/", label="neg")
        counts[size] = (claim, submit)
    assert counts[10] == counts[10_000]


def test_the_submit_page_adds_at_most_3_queries_to_the_submit_service(
    big_project, worker, login_client
):
    """Session, user, and the assignment (with its worker, to check whose it is): the rest is
    ``answer_submit`` itself."""
    project = big_project(10_000)
    client = login_client(worker)
    warm_up(client, project)
    lease = assignment_id(client.get(task_url(project)))
    page = count(client, "post", f"/crowd/assignments/{lease}/submit/", label="neg")
    direct = assignment_claim(worker=worker, project=project)
    with CaptureQueriesContext(connection) as ctx:
        answer_submit(assignment=direct, worker=worker, label="neg")
    assert page <= len(ctx) + 3


def test_the_submit_page_uses_at_most_12_queries(
    big_project, worker, login_client, django_assert_max_num_queries
):
    project = big_project(10_000)
    client = login_client(worker)
    warm_up(client, project)
    lease = assignment_id(client.get(task_url(project)))
    with django_assert_max_num_queries(12):
        client.post(f"/crowd/assignments/{lease}/submit/", {"label": "neg"})
