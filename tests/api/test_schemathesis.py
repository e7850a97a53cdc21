"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

For every operation of ``/api/schema/``, schemathesis generates requests (bounded number of
examples) as a requester on a small project of theirs, sends them through the WSGI application,
and checks that no response is a server error and every response conforms to the schema.
Path ids point at the requester's real objects, so the requests reach the code behind the 404s.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from hitl_platform.wsgi import application
from tasks.routing import answer_submit, assignment_claim
from tests.api.conftest import token_client

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
worker_operations = schema.include(
    path_regex=r"^/api/v1/(me|projects/available|projects/\{project_id\}/assignments"
    r"|assignments/\{assignment_id\}/(submit|skip))/$"
)

# Raw item files: schemathesis sends whatever string it generated for these media types.
schemathesis.serializer.alias("text/csv", "text/plain")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """Requests through the WSGI application end with ``close_old_connections``, which closes a
    connection inside a transaction (PostgreSQL), the test's own; Django's test client
    disconnects it for the same reason."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def target(requester, worker, make_worker, live_project):
    project = live_project(tasks=6, gold=2)
    answer = assignment_claim(worker=worker, project=project)
    answer_submit(assignment=answer, worker=worker, label="pos")
    labeler = make_worker("schema-worker")
    lease = assignment_claim(worker=labeler, project=project)
    return {
        "headers": {"Authorization": _token(requester)},
        "worker_headers": {"Authorization": _token(labeler.user)},
        "lease": lease.pk,
        "ids": {
            "project_id": project.pk,
            "item_id": answer.item_id,
            "assignment_id": answer.pk,
            "worker_id": worker.pk,
        },
    }


def _token(user) -> str:
    return token_client(user)._credentials["HTTP_AUTHORIZATION"]


BOUNDED = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _aim(case, ids) -> None:
    for name in case.path_parameters or {}:
        if name in ids:
            case.path_parameters[name] = ids[name]


@schema.parametrize()
@BOUNDED
def test_api_honours_its_schema_for_a_requester(case, target):
    _aim(case, target["ids"])
    response = case.call(headers=target["headers"])
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


@worker_operations.parametrize()
@BOUNDED
def test_worker_api_honours_its_schema_for_a_worker(case, target):
    _aim(case, {**target["ids"], "assignment_id": target["lease"]})
    response = case.call(headers=target["worker_headers"])
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
