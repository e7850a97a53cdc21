"""Exporting results: what comes out is what the platform holds, in CSV and JSONL."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tasks.models import Assignment, Item
from tasks.services import items_import
from workers.services import worker_create


@pytest.fixture
def labeled(project, worker):
    items_import(
        project=project,
        data=b'external_id,gold_label,text\ng1,pos,gold one\na,,"comma, text"\nb,,open one\n',
        fmt="csv",
    )
    Item.objects.filter(external_id="a").update(
        status="final", final_label="neg", confidence=0.9731, label_source="crowd"
    )
    second = worker_create(username="second-worker", password="x-very-long-pass")
    now = timezone.now()
    item = Item.objects.get(external_id="a")
    for w, label in [(worker, "neg"), (second, "pos")]:
        Assignment.objects.create(
            project=project,
            item=item,
            worker=w,
            reward=Decimal("0.05"),
            status="submitted",
            label=label,
            leased_at=now,
            expires_at=now + timedelta(minutes=5),
            submitted_at=now,
        )
    # A lease that was never answered is not an answer.
    Assignment.objects.create(
        project=project,
        item=Item.objects.get(external_id="b"),
        worker=worker,
        reward=Decimal("0.05"),
        leased_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    return project


def export(project, fmt) -> str:
    out = io.StringIO()
    call_command("export_results", str(project.pk), "--format", fmt, stdout=out)
    return out.getvalue()


def test_csv_export_round_trips_the_results(labeled):
    rows = list(csv.DictReader(io.StringIO(export(labeled, "csv"))))
    by_id = {r["external_id"]: r for r in rows}
    assert set(by_id) == {"g1", "a", "b"}
    assert by_id["a"] == {
        "external_id": "a",
        "status": "final",
        "final_label": "neg",
        "confidence": "0.973100",
        "source": "crowd",
        "answers": "2",
    }
    assert by_id["g1"]["final_label"] == "pos" and by_id["g1"]["source"] == "gold"
    assert by_id["b"]["final_label"] == "" and by_id["b"]["answers"] == "0"
    for item in Item.objects.all():
        assert by_id[item.external_id]["final_label"] == item.final_label


def test_jsonl_export_lists_each_answer_with_its_worker(labeled, worker):
    records = {r["external_id"]: r for r in map(json.loads, export(labeled, "jsonl").splitlines())}
    a = records["a"]
    assert (a["final_label"], a["confidence"], a["source"], a["answers"]) == (
        "neg",
        0.9731,
        "crowd",
        2,
    )
    assert [(x["worker"], x["label"]) for x in a["worker_answers"]][0] == (worker.pk, "neg")
    assert len(a["worker_answers"]) == 2
    assert records["b"]["final_label"] is None and records["b"]["worker_answers"] == []


def test_exported_csv_imports_back_as_the_same_items(labeled, requester, project_factory):
    again = project_factory(requester, name="copy")
    exported = export(labeled, "csv").replace("final_label", "gold_label", 1)
    reader = csv.DictReader(io.StringIO(exported))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["external_id", "gold_label"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(reader)
    assert items_import(project=again, data=buffer.getvalue().encode(), fmt="csv") == 3
    assert dict(again.items.values_list("external_id", "gold_label")) == dict(
        labeled.items.values_list("external_id", "final_label")
    )


def test_export_to_a_file(labeled, tmp_path):
    path = tmp_path / "out.jsonl"
    call_command("export_results", str(labeled.pk), "--format", "jsonl", "--output", str(path))
    assert len(path.read_text().splitlines()) == 3


def test_admin_download_matches_the_command(client, requester, labeled):
    client.force_login(requester)
    for fmt in ("csv", "jsonl"):
        response = client.get(reverse("admin:tasks_project_export", args=[labeled.pk, fmt]))
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        assert b"".join(response.streaming_content).decode() == export(labeled, fmt)
