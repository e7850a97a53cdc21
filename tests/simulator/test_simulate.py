"""The crowd simulator: replayed and synthetic workers through the real services, honest
accounting (answers, money, accuracy on the hidden gold only), and one-line errors."""

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from billing.models import LedgerEntry, Movement
from billing.selectors import ledger_mismatches
from hitl_platform import money
from simulator.data import load_dataset, seeded_gold_split
from simulator.engine import SimulationConfig, simulate
from simulator.results import run_results
from tasks.models import Assignment, Item

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"


@pytest.fixture(scope="module")
def rte():
    return load_dataset(DATA / "rte")


def test_a_replay_buys_recorded_answers_pays_them_and_scores_on_hidden_gold_only(db, rte):
    config = SimulationConfig(gold_share=0.2, max_tasks=20, seed=3)
    run = simulate(rte, config)
    report = run_results(run)
    project = run.project
    answers = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    # Every stored answer is a recorded one, by the worker who gave it in the data.
    recorded = {(w, t): label for t, w, label in rte.answers}
    prefix = f"sim{project.pk}-"
    for worker, task, label in answers.values_list(
        "worker__user__username", "item__external_id", "label"
    ):
        assert recorded[(worker.removeprefix(prefix), task)] == label
    assert report["answers_bought"] == answers.filter(reward__gt=0).count() > 0
    assert (
        report["answers_bought"]
        <= report["answers_available"]
        == sum(1 for t, _, _ in rte.answers if t in set(rte.tasks[:20]))
    )
    # Money: every answer bought is paid, and the ledger says the same.
    approved = LedgerEntry.objects.filter(project=project, movement=Movement.APPROVE).aggregate(
        s=Sum("amount")
    )["s"]
    spent = Decimal(report["money_spent"])
    assert spent == money.quantize(approved) == report["answers_bought"] * Decimal("0.05")
    assert report["ledger_ok"] and not ledger_mismatches(project=project)
    # Accuracy is measured on the hidden gold: never on the gold the platform was given.
    given = set(
        Item.objects.filter(project=project)
        .exclude(gold_label="")
        .values_list("external_id", flat=True)
    )
    assert given == run.given_gold and len(given) == 4
    assert report["hidden_gold_items"] == 16 and not given & run.hidden_gold
    labels = report["final_labels"]
    assert not given & set(labels)
    scored = [t for t in run.hidden_gold if t in labels]
    assert report["accuracy_items"] == len(scored)
    assert report["accuracy_correct"] == sum(labels[t] == rte.gold[t] for t in scored)
    assert report["accuracy"] == pytest.approx(report["accuracy_correct"] / len(scored), abs=1e-6)
    assert report["model_versions"] == []


def test_with_the_model_on_the_project_trains_on_the_items_and_reports_each_pass(db):
    music = load_dataset(DATA / "music_genre")
    config = SimulationConfig(model=True, retrain_every=60, gold_share=0, max_tasks=150, seed=1)
    report = run_results(run := simulate(music, config))
    project = run.project
    assert project.model_enabled and report["model"] and project.model_retrain_every == 60
    assert report["model_features"] == {"text": [], "numeric": music.item_columns}
    first = report["model_versions"][0]
    assert first["version"] == 1 and first["n_train"] >= project.model_min_labels == 50
    final = Item.objects.filter(project=project, status="final", gold_label="")
    assert sum(report["final_by_source"].values()) == final.count()
    # What the model labeled alone cost nothing; the share is of every label the run produced.
    by_model = final.filter(label_source="model")
    assert report["final_by_source"].get("model", 0) == by_model.count()
    assert not by_model.exclude(answers_count=0).exists()
    # Only a trained version labels: every label of the model names the version that gave it.
    assert not by_model.filter(model_version__isnull=True).exists()
    assert report["model_share"] == pytest.approx(by_model.count() / report["labeled_items"])
    assert report["ledger_ok"]


def test_synthetic_workers_can_buy_any_overlap(db):
    bluebirds = load_dataset(DATA / "bluebirds")
    config = SimulationConfig(
        workers="synthetic", n_workers=6, policy="fixed", overlap=4, gold_share=0, max_tasks=12
    )
    run = simulate(bluebirds, config)
    report = run_results(run)
    counts = Item.objects.filter(project=run.project).values_list("answers_count", flat=True)
    assert set(counts) == {4}  # more than fixed overlap: bought, not replayed
    assert report["answers_bought"] == 48 and report["answers_available"] is None
    assert report["accuracy_items"] == 12 and report["coverage"] == 1.0


def test_fixed_overlap_buys_exactly_n_and_dynamic_stops_early(db, rte):
    fixed = run_results(
        simulate(rte, SimulationConfig(policy="fixed", overlap=5, gold_share=0, max_tasks=12))
    )
    dynamic = run_results(
        simulate(rte, SimulationConfig(policy="dynamic", gold_share=0, max_tasks=12, overlap=5))
    )
    # Fixed: min = max = 5, no item gets more than 5 answers (its recorded workers have 10),
    # and every item gets a label, final or in review.
    assert fixed["settings"]["min_overlap"] == fixed["settings"]["max_overlap"] == 5
    assert fixed["answers_bought"] <= 60 and fixed["labeled_items"] == 12
    assert dynamic["answers_bought"] < fixed["answers_bought"]
    assert dynamic["settings"]["target_confidence"] == 0.95
    assert dynamic["labeled_items"] == 12


def test_a_budget_stops_the_run_and_is_never_overspent(db, rte):
    report = run_results(
        simulate(rte, SimulationConfig(gold_share=0, max_tasks=20, budget=Decimal("1.00")))
    )
    assert report["stopped_by"] == "budget"
    assert Decimal(report["money_spent"]) <= Decimal("1.00")
    assert report["answers_bought"] == 20


def test_a_budget_of_three_answers_a_task_buys_about_three_on_every_task(db):
    """Bluebirds' crowd arrives together; with the money for three answers a task, the platform
    gives nearly every task its minimum of two and spreads the rest. Routing by confidence
    alone (before answers on the way and the minimum came first) left 20 of the 36 tasks with
    one answer while a few took 10-16."""
    bluebirds = load_dataset(DATA / "bluebirds")
    run = simulate(bluebirds, SimulationConfig(max_tasks=40, budget=Decimal("6.00"), seed=0))
    counts = sorted(
        Item.objects.filter(project=run.project, gold_label="").values_list(
            "answers_count", flat=True
        )
    )
    assert run.stopped_by == "budget"
    assert sum(c < 2 for c in counts) <= 3, counts
    assert max(counts) <= 8, counts


def test_a_replay_stopped_by_its_budget_hears_the_crowd_in_its_recorded_proportions(db):
    """web's first 300 tasks: a third of the recorded answers came from five workers. A run that
    buys a third of the answers should hear them nearly as often (a little less: items they
    answered in the data may be settled before they reach them); with everyone working back to
    back, the many workers who answered little crowd them out early in the run."""
    web = load_dataset(DATA / "web").head(300)
    volume = Counter(w for _, w, _ in web.answers)
    busiest = {w for w, _ in volume.most_common(5)}
    recorded_share = sum(volume[w] for w in busiest) / len(web.answers)
    assert recorded_share > 0.3
    budget = Decimal("0.05") * (len(web.answers) // 3)
    share = {}
    for presence in ("recorded", "equal"):
        run = simulate(web, SimulationConfig(gold_share=0, budget=budget, presence=presence))
        prefix = f"sim{run.project.pk}-"
        bought = list(
            Assignment.objects.filter(
                project=run.project, status__in=Assignment.ANSWERED
            ).values_list("worker__user__username", flat=True)
        )
        assert run.stopped_by == "budget" and len(bought) >= 0.95 * (len(web.answers) // 3)
        share[presence] = sum(n.removeprefix(prefix) in busiest for n in bought) / len(bought)
        assert run_results(run)["presence"] == presence
        # The clock stops at the last lease or answer, not when the last worker to come back
        # (after a long break) found the money gone.
        leases = Assignment.objects.filter(project=run.project)
        last = max(
            max(leases.values_list("leased_at", flat=True)),
            max(leases.exclude(submitted_at=None).values_list("submitted_at", flat=True)),
        )
        assert (last - run.clock_start).total_seconds() == pytest.approx(
            run.simulated_seconds, abs=0.01
        )
    # Measured over seeds 0–5: recorded 0.20–0.28 of the answers, equal 0.05–0.13 (of 0.34).
    assert 0.5 * recorded_share < share["recorded"] <= recorded_share + 0.05
    assert share["equal"] < 0.5 * recorded_share < share["recorded"]


def test_the_command_prints_the_summary_and_writes_json(db, tmp_path, capsys):
    out = tmp_path / "report.json"
    call_command(
        "simulate",
        "--dataset",
        str(DATA / "music_genre"),
        "--max-tasks",
        "15",
        "--gold-share",
        "0",
        "--quiet",
        "--json",
        str(out),
    )
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert f"answers bought      {report['answers_bought']}" in printed
    assert "accuracy" in printed and "cost per accurate label" in printed
    assert "dataset music_genre: replay workers (present recorded), dynamic policy" in printed
    assert report["items"] == 15 and len(report["final_labels"]) == report["labeled_items"]
    assert report["model_versions"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "on"], "--model on needs item fields: bluebirds has no items.csv"),
        (["--policy", "fixed"], "--policy fixed needs --overlap N"),
        (["--retrain-every", "50"], "--retrain-every needs --model on"),
        (["--target", "1.5"], "--target must be between 0.5 and 0.999"),
        (["--gold-share", "1"], "--gold-share must be in [0, 1)"),
        (["--budget", "0.01"], "--budget must pay at least one answer"),
        (["--presence", "sometimes"], "invalid choice: 'sometimes'"),
        (["--url", "http://192.0.2.1:8000"], "--url must be a loopback address"),
    ],
)
def test_bad_arguments_give_a_one_line_error(db, args, message):
    with pytest.raises(CommandError) as exc:
        call_command("simulate", "--dataset", str(DATA / "bluebirds"), "--quiet", *args)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_folder_that_is_not_a_dataset_is_a_one_line_error(db, tmp_path):
    (tmp_path / "answers.csv").write_text("task,label\n1,a\n")
    for folder, message in ((tmp_path / "nope", "is not a folder"), (tmp_path, "no column worker")):
        with pytest.raises(CommandError, match=message) as exc:
            call_command("simulate", "--dataset", str(folder), "--quiet")
        assert "\n" not in str(exc.value)


def test_a_run_with_control_questions_is_the_same_for_its_seed(db):
    """Which claims are control questions, and which ones, is drawn from the run's seed: two
    runs of one seed buy the same answers (the platform itself draws them unpredictably)."""
    bluebirds = load_dataset(DATA / "bluebirds")

    def answers(seed):
        run = simulate(bluebirds, SimulationConfig(gold_share=0.3, max_tasks=40, seed=seed))
        # the split the cost benchmark scores its baselines with
        assert run.given_gold == seeded_gold_split(bluebirds.head(40), 0.3, seed)[0]
        prefix = f"sim{run.project.pk}-"
        rows = (
            Assignment.objects.filter(project=run.project, status__in=Assignment.ANSWERED)
            .order_by("submitted_at", "pk")
            .values_list("worker__user__username", "item__external_id", "kind", "label")
        )
        return [(worker.removeprefix(prefix), *rest) for worker, *rest in rows]

    first, second = answers(5), answers(5)
    assert sum(kind == Assignment.Kind.GOLD for _, _, kind, _ in first) >= 10
    assert first == second
