"""``rows_update``: the refit's fast bulk write, on SQLite and PostgreSQL alike."""

from datetime import date

from hitl_platform.db import rows_update
from tasks.models import Item
from tasks.routing import standing_get
from workers.models import WorkerStanding


def test_rows_update_writes_each_rows_own_values_and_nothing_else(live_project, make_worker):
    project = live_project(tasks=3)
    items = list(Item.objects.filter(project=project).order_by("pk"))
    for n, item in enumerate(items[:2]):
        item.status, item.final_label, item.label_source = "final", ["pos", "neg"][n], "crowd"
        item.confidence = item.priority = 0.9 + n / 100
        item.finalized_on = date(2026, 1, 1 + n)
        item.payload = {"changed": "in memory only"}
    fields = ["status", "final_label", "label_source", "confidence", "priority", "finalized_on"]
    assert rows_update(Item, items[:2], fields) == 2
    stored = list(Item.objects.filter(project=project).order_by("pk"))
    assert [(i.status, i.final_label, i.confidence, i.finalized_on) for i in stored] == [
        ("final", "pos", 0.9, date(2026, 1, 1)),
        ("final", "neg", 0.91, date(2026, 1, 2)),
        ("open", "", None, None),
    ]
    assert stored[0].payload == {"text": "task text 0"}  # a field not named is not written
    assert rows_update(Item, [], fields) == 0


def test_rows_update_writes_json(live_project, worker):
    standing = standing_get(worker=worker, project=live_project(tasks=1))
    standing.confusion = [[0.9, 0.1], [0.2, 0.8]]
    rows_update(WorkerStanding, [standing], ["confusion"])
    assert WorkerStanding.objects.get(pk=standing.pk).confusion == [[0.9, 0.1], [0.2, 0.8]]
