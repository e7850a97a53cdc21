"""The report page in headless Chromium: the charts render, and a screenshot for the docs.

``UPDATE_SCREENSHOTS=1`` writes docs/screenshots/report.png; otherwise a temporary directory.
"""

import os
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import LedgerEntry
from tasks.approval import answers_approve_due
from tasks.models import Item
from tasks.routing import answer_submit, assignment_claim
from tasks.services import items_import, project_publish
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def project_with_history(requester, project_factory, make_worker):
    """A project labeled over six days by three workers of different care (a week of history)."""
    project = project_factory(
        requester,
        name="Product matching",
        reward=Decimal("0.0300"),
        budget=Decimal("5.00"),
        min_overlap=2,
        max_overlap=4,
        target_confidence=0.9,
        exam_size=0,
        gold_rate=0,
        labels=["match", "no match"],
    )
    rng = random.Random(3)
    lines = ["external_id,audit_label,text"]
    truth = {}
    for n in range(36):
        truth[f"p{n}"] = rng.choice(["match", "no match"])
        audit = truth[f"p{n}"] if n % 4 == 0 else ""
        lines.append(f"p{n},{audit},record pair {n}")
    items_import(project=project, data="\n".join(lines).encode(), fmt="csv")
    project_publish(project=project)
    workers = [
        (make_worker(name), care) for name, care in [("ana", 0.95), ("ben", 0.85), ("cy", 0.6)]
    ]
    clock = timezone.now() - timedelta(days=1)
    for _ in range(30):
        for worker, care in workers:
            clock += timedelta(seconds=12)
            lease = assignment_claim(worker=worker, project=project, now=clock)
            if lease is None:
                continue
            right = truth[lease.item.external_id]
            wrong = "match" if right == "no match" else "no match"
            label = right if rng.random() < care else wrong
            answer_submit(
                assignment=lease, worker=worker, label=label, now=clock + timedelta(seconds=9)
            )
    answers_approve_due(project=project)
    today = timezone.localdate()
    for n, entry in enumerate(
        LedgerEntry.objects.filter(project=project, movement="approve").order_by("pk")
    ):
        LedgerEntry.objects.filter(pk=entry.pk).update(day=today - timedelta(days=5 - n * 6 // 100))
    for n, item in enumerate(Item.objects.filter(project=project, status="final").order_by("pk")):
        Item.objects.filter(pk=item.pk).update(finalized_on=today - timedelta(days=5 - n * 6 // 36))
    return project


def test_report_page_renders_its_charts(page, project_with_history, requester):
    page.goto(f"{page.base_url}/admin/login/?next=/reports/projects/{project_with_history.pk}/")
    page.fill("#id_username", requester.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"**/reports/projects/{project_with_history.pk}/")
    for chart in ("#chart-burn-down", "#chart-accuracy", "#chart-cost"):
        svg = page.locator(f"{chart} svg.chart")
        assert svg.count() == 1
        assert svg.locator("polyline.series").count() >= 1
        assert svg.bounding_box()["width"] > 200
    assert page.locator("text=cost per accurate label, measured on").count() == 1
    assert page.locator("table.report >> text=ana").count() == 1
    out = (
        Path(settings.BASE_DIR) / "docs" / "screenshots"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1"
        else Path(os.environ.get("TMPDIR", "/tmp"))
    )
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(out / "report.png"), full_page=True)
