"""Screenshots of the worker UI for the docs, taken in headless Chromium on realistic data.

``UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/workers/test_screenshots.py`` writes them
to docs/screenshots/; without it they go to a temporary directory, so an ordinary test run
exercises the same pages without touching the tracked files.
"""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from tasks.models import Assignment

from .conftest import browser_login
from .helpers import answer, block

pytestmark = pytest.mark.browser

REVIEWS = [
    "A quiet, patient film that trusts its audience. The last twenty minutes are among the most "
    "moving I have seen this year.",
    "Two hours I will never get back. The plot holes are big enough to drive the tour bus "
    "through, and the tour bus is the best actor in it.",
    "It is fine. Nice photography, forgettable score, and a lead who seems to be in a different "
    "movie from everyone else.",
    "Funny, sharp and much smarter than the trailer suggests; bring your parents.",
    "The sequel nobody asked for, made by people who clearly did not watch the first one.",
    "Gorgeous to look at, but the script runs out of ideas halfway and never finds them again.",
    "I laughed, I cried, I bought the soundtrack on the way home.",
    "A competent thriller that does exactly what it says on the tin, nothing more.",
    "The dialogue is so wooden you could build a deck with it.",
    "An instant classic: every frame is doing something, and the cast is perfect.",
    "Not bad for a Tuesday night, not good enough for a Saturday.",
    "Overlong and self-satisfied, with one great scene stranded in the middle.",
]
INSTRUCTIONS = """\
Read the review and choose the **overall** sentiment of the reviewer.

* **positive**: the reviewer recommends the film, even with small complaints.
* **negative**: the reviewer would not recommend it.
* **neutral**: mixed, or no clear opinion.

Judge the review, not the film. Sarcasm counts as what it means.
"""
EMAILS = [
    (
        "Your invoice #4411 is overdue. Click here within 24 hours to avoid account suspension!!",
        "spam",
    ),
    (
        "Hi, the export button gives me a blank CSV since this morning. Can you have a look?",
        "not spam",
    ),
    ("Congratulations! You were selected for a free cruise. Reply with your card number.", "spam"),
    ("Thanks for the quick fix yesterday; the team can log in again.", "not spam"),
    ("Could you move our plan renewal to the first of the month? Finance asked.", "not spam"),
]
PAIRS = [
    (
        "Mexico City has a very bad pollution problem because the mountains around the city act "
        "as walls and block in dust and smog.",
        "Poor air circulation out of the mountain-walled Mexico City aggravates pollution.",
    ),
    ("Satomi Mitarai died of blood loss.", "Satomi Mitarai bled to death."),
]


@pytest.fixture
def shots_dir(tmp_path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        path = Path(settings.BASE_DIR) / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path


def test_screenshots(page, payload_project, live_project, make_worker, shots_dir):
    reviews = payload_project(
        *[{"text": text} for text in REVIEWS],
        name="Movie review sentiment",
        labels=["positive", "negative", "neutral"],
        instructions=INSTRUCTIONS,
        reward=Decimal("0.0400"),
        min_overlap=1,
        max_overlap=3,
    )
    entailment = payload_project(
        *[{"text": text, "hypothesis": hypothesis} for text, hypothesis in PAIRS * 3],
        name="Does the sentence follow? (RTE)",
        labels=["follows", "does not follow"],
        instructions="Read the **text**, then the **hypothesis**: does the text imply it?",
        reward=Decimal("0.0500"),
    )
    exam = payload_project(
        *[{"text": text} for text, _ in EMAILS],
        gold=[({"text": text}, label) for text, label in EMAILS],
        exam_size=4,
        name="Spam or not: support emails",
        labels=["spam", "not spam"],
        instructions="Is this email **spam** (unsolicited, deceptive) or a real customer message?",
        reward=Decimal("0.0300"),
    )
    toxic = live_project(tasks=3, name="Toxic comment check", reward=Decimal("0.0600"))

    worker = make_worker("maria")
    others = [make_worker() for _ in range(3)]
    for n, other in enumerate(others):
        answer(other, reviews, "positive", seconds=9 + 4 * n)
    for seconds, label in [(8, "positive"), (11, "negative"), (7, "neutral"), (12, "positive")]:
        answer(worker, reviews, label, seconds=seconds)
    answer(worker, reviews, "positive", seconds=10)
    answered = list(Assignment.objects.filter(worker=worker).order_by("pk"))
    Assignment.objects.filter(pk__in=[a.pk for a in answered[:2]]).update(status="approved")
    Assignment.objects.filter(pk=answered[2].pk).update(
        status="rejected", rejection_reason="Contradicts a control item with a known label."
    )
    answer(worker, exam, "spam", seconds=6)  # one exam question answered
    worker.standings.filter(project=reviews).update(estimated_accuracy=0.912)
    block(
        worker,
        toxic,
        reason="Median answer time 0.6 s is below the 1.0 s that reading an item takes.",
    )

    browser_login(page, worker)

    def shot(name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots_dir / name), full_page=True)

    page.goto(f"{page.base_url}/crowd/")
    shot("dashboard.png")
    page.goto(f"{page.base_url}/crowd/projects/{reviews.pk}/task/")
    page.locator("#task-panel[data-state='task']").wait_for()
    shot("task-desktop.png")
    page.goto(f"{page.base_url}/crowd/history/")
    shot("history.png")
    page.goto(f"{page.base_url}/crowd/projects/{exam.pk}/task/")
    page.locator("#task-panel[data-state='exam']").wait_for()
    shot("task-exam.png")
    page.goto(f"{page.base_url}/crowd/projects/{toxic.pk}/task/")
    shot("task-blocked.png")
    page.goto(f"{page.base_url}/crowd/projects/{entailment.pk}/task/")
    shot("task-fields.png")

    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{page.base_url}/crowd/projects/{reviews.pk}/task/")
    shot("task-375.png")
    page.goto(f"{page.base_url}/crowd/")
    shot("dashboard-375.png")
    page.goto(f"{page.base_url}/crowd/history/")
    shot("history-375.png")

    for name in ("dashboard.png", "task-desktop.png", "task-375.png", "history.png"):
        assert (shots_dir / name).stat().st_size > 10_000, name
