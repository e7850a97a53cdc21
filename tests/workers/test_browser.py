"""The worker UI in headless Chromium against the live server: what a worker actually sees and
does, keyboard only where it matters."""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tasks.models import Assignment
from tasks.routing import assignment_claim
from tests.conftest import PASSWORD
from workers.models import Worker

from .conftest import browser_login
from .helpers import block

SHOTS = Path(os.environ.get("BROWSER_SHOTS", tempfile.gettempdir()))

pytestmark = pytest.mark.browser

PANEL_CHANGED = """
before => {
  const p = document.getElementById('task-panel');
  return p && p.dataset.assignment !== before && p.dataset.ready === '1'
    && !p.querySelector('.htmx-request');
}
"""


def panel_assignment(page) -> str | None:
    return page.locator("#task-panel").get_attribute("data-assignment")


def press_and_wait(page, key: str) -> None:
    """Press a key on the task page and wait until htmx swapped in another panel."""
    before = panel_assignment(page)
    page.keyboard.press(key)
    page.wait_for_function(PANEL_CHANGED, arg=before)


def pending(page) -> str:
    page.goto(f"{page.base_url}/crowd/")
    return page.get_by_test_id("earnings-pending").inner_text()


def test_a_new_worker_signs_up_passes_the_exam_and_labels_ten_items_by_keyboard(page, live_project):
    project = live_project(
        tasks=12, gold=2, exam_size=2, instructions="Is the review **positive**?"
    )
    page.goto(f"{page.base_url}/crowd/signup/")
    page.get_by_label("Username").fill("kim")
    page.get_by_label("Password", exact=True).fill("tide-lantern-orchid-42")
    page.get_by_label("Password confirmation").fill("tide-lantern-orchid-42")
    page.get_by_label("Password confirmation").press("Enter")
    page.wait_for_url(f"{page.base_url}/crowd/")
    assert page.get_by_test_id("earnings-pending").inner_text() == "0.00"

    page.get_by_role("link", name="Take the exam").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/crowd/projects/{project.pk}/task/")
    page.evaluate("window.__sameDocument = true")  # gone if a full page load happens
    assert "Exam · question 1 of 2" in page.locator("#task-panel").inner_text()
    press_and_wait(page, "1")  # gold items are "pos", label 1
    assert "Exam · question 2 of 2" in page.locator("#task-panel").inner_text()
    press_and_wait(page, "1")
    assert "You passed the exam" in page.locator("#task-panel").inner_text()

    for n in range(10):
        press_and_wait(page, "1" if n % 2 else "2")
    skipped = int(panel_assignment(page))
    press_and_wait(page, "s")
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#task-panel").get_attribute("data-state") == "task"
    assert Assignment.objects.get(pk=skipped).status == "expired"
    worker = Worker.objects.get(user__username="kim")
    answers = Assignment.objects.filter(worker=worker, status="submitted")
    assert answers.filter(kind="exam").count() == 2
    assert answers.filter(kind="task").count() == 10
    assert pending(page) == "0.50"
    assert page.get_by_test_id("answers").inner_text() == "12"


def test_a_blocked_worker_sees_the_reason_and_gets_no_task(page, live_project, make_worker):
    project = live_project(tasks=3)
    worker = make_worker()
    block(worker, project, reason="Accuracy on control questions 38% is below 60%.")
    browser_login(page, worker)
    assert (
        "Accuracy on control questions 38% is below 60%."
        in page.get_by_test_id("blocked-reason").inner_text()
    )
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")
    panel = page.locator("#task-panel")
    assert panel.get_attribute("data-state") == "blocked"
    assert "Accuracy on control questions 38% is below 60%." in panel.inner_text()
    assert page.locator(".label-button").count() == 0
    page.keyboard.press("1")
    assert not Assignment.objects.filter(worker=worker).exists()


def test_an_item_whose_text_is_a_script_renders_inert(page, payload_project, make_worker):
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    project = payload_project({"text": evil}, {"text": evil, "note": evil})
    browser_login(page, make_worker())
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")
    for _ in range(2):  # the first page load, then an htmx swap
        item = page.get_by_test_id("item")
        assert evil in item.inner_text()
        assert item.locator("script, img").count() == 0
        assert page.evaluate("window.__pwned") is None
        press_and_wait(page, "1")
    assert page.evaluate("window.__pwned") is None


def test_an_expired_lease_shows_its_message_and_the_next_item(page, live_project, make_worker):
    project = live_project(tasks=5)
    worker = make_worker()
    # Reloading after the lease ran out (it was taken an hour ago).
    stale = assignment_claim(
        worker=worker, project=project, now=timezone.now() - timedelta(hours=1)
    )
    browser_login(page, worker)
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")
    panel = page.locator("#task-panel")
    assert "Time ran out on your previous item" in panel.inner_text()
    assert panel.get_attribute("data-assignment") not in (None, str(stale.pk))

    # Answering after the lease ran out on the server: refused, with the next item.
    live = int(panel_assignment(page))
    now = timezone.now()
    Assignment.objects.filter(pk=live).update(
        leased_at=now - timedelta(hours=1), expires_at=now - timedelta(minutes=1)
    )
    press_and_wait(page, "1")
    assert "your answer was not stored" in panel.inner_text()
    assert Assignment.objects.get(pk=live).status == "expired"
    assert panel.get_attribute("data-state") == "task"


def test_the_countdown_runs_out_and_any_key_fetches_the_next_item(page, live_project, make_worker):
    project = live_project(tasks=5)
    worker = make_worker()
    browser_login(page, worker)
    page.clock.install()
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")
    countdown = page.locator(".countdown-value")
    assert countdown.inner_text() == "10:00"
    page.clock.run_for(61_000)
    assert countdown.inner_text() == "8:59"
    lease = int(panel_assignment(page))
    now = timezone.now()
    Assignment.objects.filter(pk=lease).update(
        leased_at=now - timedelta(hours=1), expires_at=now - timedelta(seconds=1)
    )
    page.clock.run_for(600_000)
    assert countdown.inner_text() == "0:00"
    assert page.get_by_text("Time is up for this item.").is_visible()
    assert page.locator(".label-button").first.is_disabled()
    press_and_wait(page, "1")
    assert "Time ran out on your previous item" in page.locator("#task-panel").inner_text()
    assert Assignment.objects.get(pk=lease).status == "expired"


def test_keyboard_focus_is_visible_and_the_page_fits_375px(page, live_project, make_worker):
    project = live_project(tasks=3, labels=["positive", "negative", "neutral", "mixed"])
    browser_login(page, make_worker())
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    button = page.locator(".label-button").first
    button.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # keyboard navigation: :focus-visible applies
    shadow = button.evaluate("b => getComputedStyle(b).boxShadow")
    assert shadow and shadow != "none"
    for path in ("/crowd/", "/crowd/history/"):
        page.goto(f"{page.base_url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path


def test_a_guesser_is_told_to_wait_after_too_many_failed_sign_ins(page, make_worker, settings):
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "login": "3/min"}
    settings.REST_FRAMEWORK = rest
    worker = make_worker()
    page.goto(f"{page.base_url}/crowd/login/")
    for guess in ("guess-1", "guess-2", "guess-3"):
        page.get_by_label("Username").fill(worker.user.username)
        page.get_by_label("Password").fill(guess)
        page.get_by_label("Password").press("Enter")
        page.wait_for_load_state()
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)  # right, but too late
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    page.screenshot(path=str(SHOTS / "login-throttled.png"))
    assert page.url.endswith("/crowd/login/")
    assert "Too many failed sign-ins from your address" in page.locator("form").inner_text()


def test_a_worker_faster_than_the_claim_limit_is_told_how_long_to_wait(
    page, live_project, make_worker, settings
):
    """The task page answers 429 over the per-worker claim limit; the panel (swapped by htmx
    like any other) says so and how long to wait, instead of a generic server error."""
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "claim": "2/min"}
    settings.REST_FRAMEWORK = rest
    project = live_project(tasks=6)
    worker = make_worker()
    browser_login(page, worker)
    page.goto(f"{page.base_url}/crowd/projects/{project.pk}/task/")  # claim 1
    press_and_wait(page, "1")  # the answer, then claim 2
    page.keyboard.press("1")  # the answer, then claim 3: over the limit
    page.wait_for_selector("#task-panel[data-state='throttled']")
    panel = page.locator("#task-panel").inner_text()
    page.screenshot(path=str(SHOTS / "task-throttled.png"))
    assert "Slow down a little" in panel and "Try again in" in panel
    assert "Something went wrong" not in page.content()
    assert Assignment.objects.filter(worker=worker, status="submitted").count() == 2
