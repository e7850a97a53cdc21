"""Personas and shared fixtures. Permission tests always include the outsider."""

import os
import shutil
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from hitl_platform.celery import app as celery_app
from tasks.roles import REQUESTERS
from tasks.services import items_import, project_create, project_publish
from workers.services import worker_create

PASSWORD = "correct-horse-battery-9"


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    skips = {}
    if not is_postgres():
        skips["postgres"] = "needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)"
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        skips["browser"] = f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    for item in items:
        for marker, reason in skips.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module (starting it is the slow part).

    Playwright's sync API runs an event loop in this thread, so Django refuses ORM calls from it
    unless DJANGO_ALLOW_ASYNC_UNSAFE is set; it is set only while a browser module runs.
    """
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only browser tests need it)

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _jobs_run_in_process(request):
    """Jobs run eagerly in tests, even with a broker configured, except in real-worker tests."""
    if "celery_worker" in request.keywords:
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher is slow by design; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _requester(django_user_model, username):
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=REQUESTERS))
    return user


@pytest.fixture
def requester(db, django_user_model):
    return _requester(django_user_model, "alice-requester")


@pytest.fixture
def other_requester(db, django_user_model):
    return _requester(django_user_model, "bob-requester")


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password=PASSWORD)


@pytest.fixture
def worker(db):
    return worker_create(username="wendy-worker", password=PASSWORD)


@pytest.fixture
def outsider(db, django_user_model):
    """Logged in, but neither requester, worker nor staff."""
    return django_user_model.objects.create_user(username="oscar-outsider", password=PASSWORD)


@pytest.fixture
def project_factory(db):
    def make(owner, **fields):
        defaults = {
            "name": "Sentiment of movie reviews",
            "labels": ["pos", "neg"],
            "reward": Decimal("0.0500"),
            "budget": Decimal("100.0000"),
        }
        return project_create(owner=owner, **{**defaults, **fields})

    return make


@pytest.fixture
def project(requester, project_factory):
    return project_factory(requester)


@pytest.fixture
def live_project(requester, project_factory):
    """An active project with items imported through the real service.

    ``live_project(tasks=10, gold=4, **rules)``: ``tasks`` open items t0…, ``gold`` gold items g0…
    whose gold label is "pos".
    """

    def make(tasks=10, gold=0, **fields):
        fields = {"exam_size": 0, "gold_rate": 0.0, **fields}
        project = project_factory(requester, **fields)
        lines = ["external_id,gold_label,text"]
        lines += [f"t{n},,task text {n}" for n in range(tasks)]
        lines += [f"g{n},pos,control text {n}" for n in range(gold)]
        items_import(project=project, data="\n".join(lines).encode(), fmt="csv")
        return project_publish(project=project)

    return make


@pytest.fixture
def make_worker(db):
    counter = iter(range(10_000))

    def make(name=None):
        return worker_create(username=name or f"worker-{next(counter)}", password=PASSWORD)

    return make


@pytest.fixture
def project_form():
    """``project_form(**overrides)``: a complete, valid POST for the admin's add-project form."""

    def make(**overrides):
        data = {
            "name": "Toxic comments",
            "description": "",
            "instructions": "Is it *toxic*?",
            "labels": "toxic\nfine\n",
            "reward": "0.0200",
            "budget": "50",
            "min_overlap": 2,
            "max_overlap": 4,
            "target_confidence": 0.9,
            "gold_rate": 0.1,
            "assignment_seconds": 300,
            "aggregation_method": "ds",
            "exam_size": 4,
            "exam_pass_accuracy": 0.75,
            "block_gold_accuracy": 0.6,
            "block_gold_min_answers": 8,
            "block_estimated_accuracy": 0.55,
            "block_estimated_min_answers": 20,
            "block_min_median_seconds": 1.0,
            "block_speed_min_answers": 10,
            "refit_every": 50,
            "approval_delay_days": 3,
            "auto_approve_days": 7,
            "model_features": "{}",
            "model_classifier": "logreg",
            "model_min_labels": 50,
            "model_retrain_every": 100,
            "auto_label_threshold": 0.95,
            "spot_check_rate": 0.1,
            "max_model_share": 0.8,
        }
        return {**data, **overrides}

    return make
