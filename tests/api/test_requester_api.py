"""The requester's API as a script sees it: create, import, publish, watch, export, pay."""

import csv
import io
import json
import tracemalloc

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from billing.selectors import ledger_mismatches
from tasks.models import Item, Project
from tests.api.conftest import token_client

P = "/api/v1/projects"


def test_a_script_runs_a_project_end_to_end(requester, worker):
    api = token_client(requester)
    created = api.post(
        f"{P}/",
        {"name": "Toxic", "labels": ["toxic", "fine"], "reward": "0.05", "budget": "10"},
        format="json",
    )
    assert created.status_code == 201, created.content
    project = created.json()
    assert project["status"] == "draft" and project["budget"] == "10.0000"
    assert project["owner"] == requester.username
    pid = project["id"]
    assert ledger_mismatches(project=Project.objects.get(pk=pid)) == []

    csv_body = b"external_id,gold_label,text\na1,,hello\na2,,bye\ng1,toxic,die\n"
    imported = api.post(f"{P}/{pid}/items/import/", csv_body, content_type="text/csv")
    assert imported.status_code == 201 and imported.json() == {"imported": 3, "items": 3}
    jsonl = b'{"external_id": "b1", "payload": {"text": "x"}}\n{"external_id": "b2", "text": "y"}\n'
    upload = SimpleUploadedFile("more.jsonl", jsonl)
    assert api.post(f"{P}/{pid}/items/import/", {"file": upload}, format="multipart").json() == {
        "imported": 2,
        "items": 5,
    }
    as_list = [{"external_id": "c1", "payload": {"text": "z"}}]
    assert api.post(f"{P}/{pid}/items/import/", as_list, format="json").status_code == 201

    assert api.post(f"{P}/{pid}/publish/").json()["status"] == "active"
    patched = api.patch(f"{P}/{pid}/", {"reward": "0.06", "min_overlap": 1}, format="json")
    assert patched.json()["reward"] == "0.0600" and patched.json()["min_overlap"] == 1
    assert patched.json()["block_estimated_accuracy"] is None  # unset: relative to guessing
    assert patched.json()["estimated_accuracy_floor"] == 0.55
    assert patched.json()["block_gold_accuracy"] is None
    assert patched.json()["gold_accuracy_floor"] == 0.6
    own_floor = api.patch(f"{P}/{pid}/", {"block_estimated_accuracy": 0.7}, format="json").json()
    assert own_floor["block_estimated_accuracy"] == own_floor["estimated_accuracy_floor"] == 0.7
    back = api.patch(f"{P}/{pid}/", {"block_estimated_accuracy": None}, format="json").json()
    assert back["block_estimated_accuracy"] is None and back["estimated_accuracy_floor"] == 0.55
    model = {"model_enabled": True, "model_features": {"text": ["text"]}, "spot_check_rate": 0.2}
    patched = api.patch(f"{P}/{pid}/", model, format="json").json()
    assert patched["model_enabled"] and patched["model_features"] == {"text": ["text"]}
    no_features = api.patch(f"{P}/{pid}/", {"model_features": {}}, format="json")
    assert (
        no_features.status_code == 400 and "fields the model reads" in no_features.json()["detail"]
    )

    worker_api = token_client(worker.user)
    claim = worker_api.post(f"{P}/{pid}/assignments/").json()
    worker_api.post(f"/api/v1/assignments/{claim['id']}/submit/", {"label": "fine"}, format="json")

    items = api.get(f"{P}/{pid}/items/").json()
    assert items["count"] == 6
    gold = api.get(f"{P}/{pid}/items/?gold=true").json()["results"]
    assert [i["external_id"] for i in gold] == ["g1"] and gold[0]["gold_label"] == "toxic"
    answers = api.get(f"{P}/{pid}/items/{claim['item']['id']}/answers/").json()["results"]
    assert [(a["worker_name"], a["label"]) for a in answers] == [(worker.user.username, "fine")]
    workers = api.get(f"{P}/{pid}/workers/").json()["results"]
    assert workers[0]["worker"] == worker.pk and workers[0]["answers"] == 1

    rejected = api.post(
        f"/api/v1/assignments/{answers[0]['id']}/reject/", {"reason": "spam"}, format="json"
    )
    assert rejected.json()["status"] == "rejected"
    bonus = api.post(
        f"{P}/{pid}/workers/{worker.pk}/bonus/", {"amount": "0.5", "reason": "fast"}, format="json"
    )
    assert bonus.status_code == 201 and bonus.json()["amount"] == "0.5000"
    topped = api.post(f"{P}/{pid}/topup/", {"amount": "2.5"}, format="json").json()
    assert topped["budget"] == "12.5000" and topped["spent"] == "0.5000"
    assert ledger_mismatches(project=Project.objects.get(pk=pid)) == []

    report = api.get(f"{P}/{pid}/report/")
    assert report.status_code == 200 and report.json()["items"] == 6
    assert api.post(f"{P}/{pid}/pause/").json()["status"] == "paused"
    assert api.post(f"{P}/{pid}/finish/").json()["status"] == "finished"


def test_a_rejected_import_lists_every_bad_line_and_imports_nothing(requester, project):
    api = token_client(requester)
    body = b"external_id,gold_label,text\nok,,fine\nbad,maybe,x\nok,,again\n,,empty\n"
    response = api.post(f"{P}/{project.pk}/items/import/", body, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "line 3: gold label 'maybe' is not one of the project's labels (pos, neg)",
        "line 4: duplicate external_id 'ok' (first on line 2)",
        "line 5: empty external_id",
    ]
    assert response.json()["errors_total"] == 3
    assert not Item.objects.filter(project=project).exists()


def test_items_filter_by_status_source_confidence_and_gold(requester, live_project):
    project = live_project(tasks=4, gold=2)
    Item.objects.filter(project=project, external_id="t0").update(
        status="final", final_label="pos", confidence=0.97, label_source="crowd"
    )
    Item.objects.filter(project=project, external_id="t1").update(confidence=0.6)
    api = token_client(requester)

    def ids(query):
        response = api.get(f"{P}/{project.pk}/items/?{query}")
        assert response.status_code == 200, response.content
        return sorted(i["external_id"] for i in response.json()["results"])

    assert ids("status=final") == ["g0", "g1", "t0"]
    assert ids("source=crowd") == ["t0"]
    assert ids("gold=true") == ["g0", "g1"]
    assert ids("gold=false") == ["t0", "t1", "t2", "t3"]
    assert ids("confidence_min=0.9&gold=false") == ["t0"]
    assert ids("confidence_max=0.7") == ["t1"]
    page = api.get(f"{P}/{project.pk}/items/?page_size=2").json()
    assert page["count"] == 6 and len(page["results"]) == 2 and page["next"]


def _insert_items(project, n: int) -> None:
    """``n`` final items in one executemany: as the ORM would write them, ten times faster."""
    template = Item(
        project=project,
        external_id="",
        status="final",
        final_label="pos",
        confidence=0.99,
        label_source="crowd",
    )
    fields = [f for f in Item._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields]
    at = next(i for i, f in enumerate(fields) if f.name == "external_id")
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Item._meta.db_table} ({columns}) VALUES ({marks})",  # noqa: S608
            ([*values[:at], f"i{k}", *values[at + 1 :]] for k in range(n)),
        )


def test_results_stream_100000_items_in_flat_memory(requester, project):
    _insert_items(project, 100_000)
    assert Item.objects.filter(project=project).count() == 100_000
    api = token_client(requester)
    for fmt, first in (("csv", "external_id,status"), ("jsonl", '{"external_id": "i0"')):
        response = api.get(f"{P}/{project.pk}/results/?format={fmt}")
        assert response.status_code == 200
        assert isinstance(response, StreamingHttpResponse)
        lines, head, peak = 0, None, 0
        with CaptureQueriesContext(connection) as queries:
            if fmt == "csv":  # tracing every allocation is slow: once is enough
                tracemalloc.start()
            for n, chunk in enumerate(response.streaming_content):
                lines += chunk.count(b"\n")
                head = head or chunk.decode()
                if fmt == "csv" and n % 500 == 0:
                    peak = max(peak, tracemalloc.get_traced_memory()[0])
            tracemalloc.stop()
        assert head.startswith(first)
        assert lines == 100_000 + (fmt == "csv")
        # Read in chunks of 2,000 items (and their answers), never all at once …
        assert len(queries) >= 100_000 // 2000, len(queries)
        # … so what is held at any moment is a few MB, whatever the size of the project.
        assert peak < 30 * 1024 * 1024, f"{peak / 1e6:.0f} MB held at once"


def test_jsonl_results_hold_every_answer(requester, worker, live_project):
    project = live_project(tasks=1)
    worker_api = token_client(worker.user)
    claim = worker_api.post(f"{P}/{project.pk}/assignments/").json()
    worker_api.post(f"/api/v1/assignments/{claim['id']}/submit/", {"label": "neg"}, format="json")
    response = token_client(requester).get(f"{P}/{project.pk}/results/?format=jsonl")
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="sentiment-of-movie-reviews' in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert rows[0]["worker_answers"][0]["worker"] == worker.pk
    text = b"".join(token_client(requester).get(f"{P}/{project.pk}/results/").streaming_content)
    assert next(csv.reader(io.StringIO(text.decode())))[0] == "external_id"


def test_the_schema_documents_every_operation_with_its_errors(db):
    schema = token_client(None).get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert any(c.startswith("2") for c in codes), (method, path)
            if path != "/api/v1/auth/token/":
                assert {"401", "403"} <= codes, (method, path, codes)
            if "{project_id}" in path and not path.endswith(("/assignments/", "/report/")):
                assert "404" in codes, (method, path, codes)
    imports = schema["paths"]["/api/v1/projects/{project_id}/items/import/"]["post"]
    assert {"400", "404", "413", "415"} <= set(imports["responses"])
    assert (
        "429" in schema["paths"]["/api/v1/projects/{project_id}/assignments/"]["post"]["responses"]
    )
