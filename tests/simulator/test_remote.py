"""``simulate --url``: worker threads over the REST API of a running server (pytest's live one)."""

from decimal import Decimal
from pathlib import Path

from billing.selectors import ledger_mismatches
from simulator.data import load_dataset
from simulator.engine import SimulationConfig
from simulator.remote import RemoteOptions, simulate_remote
from simulator.results import run_results
from tasks.models import Assignment
from tests.conftest import is_postgres

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"


def test_threads_of_workers_label_a_project_over_the_api(live_server, transactional_db):
    # The live server shares the test's one connection to an in-memory SQLite database, which
    # cannot serve two requests at once: several threads only on PostgreSQL (CI).
    threads = 3 if is_postgres() else 1
    dataset = load_dataset(DATA / "rte")
    config = SimulationConfig(gold_share=0.2, max_tasks=5, workers="replay")
    run = simulate_remote(
        dataset,
        config,
        RemoteOptions(url=live_server.url, threads=threads, max_requests=3000, time_limit=60),
    )
    report = run_results(run)
    answers = Assignment.objects.filter(project=run.project, status__in=Assignment.ANSWERED)
    assert report["answers_bought"] == answers.count() > 0
    assert run.counters["http_201"] >= report["answers_bought"]
    assert run.counters.get("errors", 0) == 0 and run.counters.get("http_500", 0) == 0
    # Replayed workers answered only what they answered in the data, skipping the rest.
    recorded = {(w, t): label for t, w, label in dataset.answers}
    prefix = f"sim{run.project.pk}-"
    for worker, task, label in answers.values_list(
        "worker__user__username", "item__external_id", "label"
    ):
        assert recorded[(worker.removeprefix(prefix), task)] == label
    assert Decimal(report["money_spent"]) == report["answers_bought"] * Decimal("0.05")
    assert not ledger_mismatches(project=run.project)
    assert report["accuracy_items"] > 0
