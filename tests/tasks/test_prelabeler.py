"""The pre-labeler in the platform: trained by the jobs, one voter among people, and harmless
when it knows nothing."""

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from aggregation.jobs import project_refit_job, project_train_job
from aggregation.services import model_vote, spot_checked
from aggregation.training import HUMAN_SOURCES, project_train, training_due
from audit.models import AuditEvent
from reports.selectors import project_report
from tasks.models import Item, ModelVersion, Project
from tasks.routing import answer_submit, assignment_claim, standing_get
from tasks.services import items_import, project_publish, project_update
from tests.api.conftest import token_client
from workers.services import standing_expert_set


@pytest.fixture
def feature_project(requester, project_factory):
    """``feature_project(n, informative=True, **fields)``: items with two numeric features; when
    informative, the label is the sign of ``x`` (with a margin), else independent of both."""

    def make(n=300, informative=True, gold=20, pos_share=0.5, noise=0.0, **fields):
        rng = random.Random(11)
        fields = {
            "exam_size": 2,
            "exam_pass_accuracy": 0.5,
            "gold_rate": 0.2,
            "min_overlap": 1,
            "max_overlap": 3,
            "target_confidence": 0.65,
            "model_enabled": True,
            "model_features": {"numeric": ["x", "y"]},
            "model_min_labels": 40,
            "model_retrain_every": 1000,
            "auto_label_threshold": 0.9,
            "spot_check_rate": 0.1,
            "max_model_share": 0.8,
            "refit_every": 10_000,
            "block_min_median_seconds": 0,
            **fields,
        }
        project = project_factory(requester, **fields)
        truth, lines = {}, []
        for k in range(n):
            x = (1 if rng.random() < pos_share else -1) * rng.uniform(0.5, 3.0)
            label = ("pos" if x > 0 else "neg") if informative else rng.choice(["pos", "neg"])
            if rng.random() < noise:  # a label the features cannot tell
                label = rng.choice(["pos", "neg"])
            truth[f"i{k}"] = label
            row = {"external_id": f"i{k}", "payload": {"x": x, "y": rng.gauss(0, 1)}}
            if k < gold:  # control questions, so the refit learns how good each worker is
                row["gold_label"] = label
            lines.append(json.dumps(row))
        items_import(project=project, data="\n".join(lines).encode(), fmt="jsonl")
        project_publish(project=project)
        project.truth = truth
        return project

    return make


def label_by_people(project, workers, n_items):
    """Honest workers label items through the real claim/submit services."""
    clock = timezone.now() - timedelta(hours=3)
    done = 0
    while done < n_items:
        for w in workers:
            clock += timedelta(seconds=10)
            lease = assignment_claim(worker=w, project=project, now=clock)
            if lease is None:
                return
            answer_submit(
                assignment=lease,
                worker=w,
                label=project.truth[lease.item.external_id],
                now=clock + timedelta(seconds=5),
            )
            done += 1


def test_the_model_labels_nothing_before_its_first_training_then_labels_what_it_is_sure_of(
    feature_project, make_worker
):
    project = feature_project()
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 20)
    assert not training_due(project=project)  # 20 gold + the crowd's few labels < 40 needed
    project_refit_job.delay(project.pk)
    assert not ModelVersion.objects.exists()
    assert not Item.objects.filter(label_source="model").exists()

    label_by_people(project, workers, 40)
    assert training_due(project=project)
    project_refit_job.delay(project.pk)  # the job refits, then trains
    version = ModelVersion.objects.get(project=project)
    assert version.is_useful and version.cv_accuracy > 0.9 and version.n_train >= 40
    auto = Item.objects.filter(project=project, label_source="model")
    # About a third of the items (the spot-check share, chosen by item ids, varies a little).
    assert auto.count() == version.items_auto_labeled > 80
    # What the model labeled is right, and it stays within its share of the project.
    assert all(project.truth[i.external_id] == i.final_label for i in auto)
    assert auto.count() <= 0.8 * 300
    # A spot-check share of the items it could have labeled still goes to people.
    spot = Item.objects.filter(
        project=project, status="open", answers_count=0, model_version=version
    )
    assert spot.exists()
    assert AuditEvent.objects.filter(action="model.train", project=project).count() == 1


def test_the_model_trains_as_labels_arrive_without_waiting_for_a_refit(
    feature_project, make_worker, django_capture_on_commit_callbacks
):
    """Submits count the labels they settle and queue a training check every tenth of
    min(model_min_labels, model_retrain_every) of them: a project whose refits are far apart
    (refit_every 10,000) still gets its first model at 40 labels and the next 60 labels later."""
    with django_capture_on_commit_callbacks(execute=True):
        # It votes but labels nothing alone, so people keep settling items for it to learn from.
        project = feature_project(
            model_min_labels=40, model_retrain_every=60, auto_label_threshold=1.0
        )
    workers = [make_worker() for _ in range(3)]
    assert not ModelVersion.objects.exists()  # 20 gold labels: not enough to train

    def people_label_until(versions):
        for _ in range(200):
            if ModelVersion.objects.filter(project=project).count() == versions:
                return
            with django_capture_on_commit_callbacks(execute=True):
                label_by_people(project, workers, 1)
        raise AssertionError(f"no model version {versions} after 200 answers")

    people_label_until(1)
    first = ModelVersion.objects.get(project=project)
    assert 40 <= first.n_train <= 45 and first.is_useful
    assert Item.objects.filter(project=project, model_version=first).exists()  # it voted
    project.refresh_from_db()
    assert project.refitted_at is None and project.labels_since_training == 0
    people_label_until(2)
    second = ModelVersion.objects.get(project=project, version=2)
    assert 60 <= second.n_train - first.n_train <= 65
    assert AuditEvent.objects.filter(action="model.train", project=project).count() == 2


def test_a_refit_that_came_due_while_the_model_trained_follows_the_training(
    feature_project, make_worker
):
    """A refit queued while a training held the project's lock found it taken and left; the
    training queues it when it ends, so the refits due by answers are not lost."""
    project = feature_project(gold=60, model_min_labels=40)  # on-commit jobs not run: no model
    label_by_people(project, [make_worker() for _ in range(3)], 6)
    Project.objects.filter(pk=project.pk).update(refit_every=5)
    project.refresh_from_db()
    assert project.refitted_at is None and project.answers_since_refit >= 5
    project_train_job.delay(project.pk)
    project.refresh_from_db()
    assert ModelVersion.objects.filter(project=project).count() == 1
    assert project.refitted_at is not None and project.answers_since_refit == 0


@pytest.mark.parametrize("model_on", [True, False])
def test_gold_enough_for_a_first_training_gives_a_model_before_the_first_answer(
    feature_project, requester, model_on, django_capture_on_commit_callbacks
):
    """Publishing with the model on trains it on the gold at once; with it off, nothing is
    trained until the requester turns it on, which trains it then."""
    with django_capture_on_commit_callbacks(execute=True):
        project = feature_project(gold=60, model_min_labels=40, model_enabled=model_on)
    assert not project.assignments.exists()
    if not model_on:
        assert not ModelVersion.objects.exists()
        api = token_client(requester)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.patch(
                f"/api/v1/projects/{project.pk}/", {"model_enabled": True}, format="json"
            )
        assert response.status_code == 200
    version = ModelVersion.objects.get(project=project)
    assert version.n_train == 60  # the gold labels
    voted = Item.objects.filter(project=project, gold_label="", model_version=version)
    assert voted.count() > 200


def test_a_model_trained_on_the_gold_at_publishing_is_as_sure_as_after_a_refit(
    feature_project, django_capture_on_commit_callbacks
):
    """Before any refit the class prior is unknown; the model then weighs its votes with the
    shares of the labels it learned from, so on a project where most items are "pos" it labels
    alone what the same model labels once a refit has estimated the prior (not fewer, as a
    uniform prior would have it)."""
    # No spot checks: their share is chosen by item ids, which differ between the two projects.
    settings = {"gold": 100, "pos_share": 0.85, "noise": 0.2, "model_min_labels": 40}
    settings["spot_check_rate"] = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        at_publish = feature_project(**settings)
        refitted = feature_project(**settings, model_enabled=False)
    gold = list(refitted.items.exclude(gold_label="").values_list("gold_label", flat=True))
    shares = [(gold.count(label) + 1) / (len(gold) + 2) for label in refitted.labels]
    Project.objects.filter(pk=refitted.pk).update(class_prior=shares)
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=refitted, model_enabled=True)

    def alone(project):
        return Item.objects.filter(project=project, label_source="model").count()

    at_publish.refresh_from_db()
    assert at_publish.refitted_at is None and at_publish.class_prior is None
    assert ModelVersion.objects.filter(n_train=100).count() == 2
    assert alone(at_publish) == alone(refitted) > 50


def test_people_get_the_items_the_model_is_least_sure_of_first(feature_project, make_worker):
    project = feature_project(auto_label_threshold=1.0)  # votes, labels nothing alone
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 100)
    project_train(project=project)
    voted = Item.objects.filter(project=project, status="open", answers_count=0).exclude(
        model_label=""
    )
    assert voted.exists() and not Item.objects.filter(label_source="model").exists()
    project.gold_rate, project.exam_size = 0, 0  # a plain task, not a control question
    project.save(update_fields=["gold_rate", "exam_size"])
    lease = assignment_claim(worker=make_worker(), project=project)
    served = Item.objects.get(pk=lease.item_id)
    assert served.priority == min(voted.values_list("priority", flat=True))


@pytest.mark.parametrize("model_on", [True, False])
def test_with_the_model_on_people_finish_items_before_starting_new_ones(
    feature_project, make_worker, model_on
):
    """The model learns from final labels: with it on, an item people started and left uncertain
    gets more answers before a new one is started (it becomes a label sooner); with it off, every
    item gets its minimum answers before an uncertain one gets more. Either way, a started item
    below its minimum comes first."""
    project = feature_project(
        gold=0, exam_size=0, gold_rate=0, min_overlap=2, max_overlap=3, model_enabled=model_on
    )
    if not model_on:
        project.model_features = {}
        project.save(update_fields=["model_features"])
    a, b, c = make_worker(), make_worker(), make_worker()
    first = assignment_claim(worker=a, project=project)
    truth = project.truth[first.item.external_id]
    answer_submit(assignment=first, worker=a, label=truth)
    second = assignment_claim(worker=b, project=project)
    assert second.item_id == first.item_id  # below its minimum
    other = next(label for label in project.labels if label != truth)
    answer_submit(assignment=second, worker=b, label=other)
    assert Item.objects.get(pk=first.item_id).status == "open"  # split: uncertain
    third = assignment_claim(worker=c, project=project)
    assert (third.item_id == first.item_id) is model_on


def test_a_model_no_better_than_chance_labels_nothing_and_changes_no_routing(
    feature_project, make_worker
):
    project = feature_project(informative=False)
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 120)
    before = dict(Item.objects.filter(project=project).values_list("pk", "priority"))
    version = project_train(project=project)
    assert version is not None and not version.is_useful
    assert version.cv_accuracy_lower <= version.chance_rate
    assert not Item.objects.filter(label_source="model").exists()
    assert dict(Item.objects.filter(project=project).values_list("pk", "priority")) == before
    assert "no better than chance" in AuditEvent.objects.get(action="model.train").reason


@pytest.mark.parametrize("informative", [True, False])
def test_a_useful_model_vote_counts_as_one_of_the_minimum_answers(
    feature_project, make_worker, informative
):
    """With a minimum overlap of 2, a person agreeing with a useful model settles an item alone
    (one answer bought instead of two); a model no better than chance changes nothing."""
    project = feature_project(
        n=150,
        informative=informative,
        gold=40,  # the expert seed: enough for a first training before anyone answers
        min_overlap=2,
        max_overlap=3,
        target_confidence=0.9,
        auto_label_threshold=1.0,  # it votes, it labels nothing alone
    )
    version = project_train(project=project)
    assert version.is_useful == informative
    label_by_people(project, [make_worker() for _ in range(3)], 300)
    project_refit_job.delay(project.pk)
    final = Item.objects.filter(project=project, gold_label="", status="final")
    assert final.count() >= 20 and set(final.values_list("label_source", flat=True)) == {"crowd"}
    singles = final.filter(answers_count=1)
    if informative:
        assert singles.count() >= 20
        assert all(i.final_label == project.truth[i.external_id] for i in singles)
    else:
        assert not singles.exists()


def test_spot_checked_items_are_decided_without_the_vote_and_measure_the_next_version(
    feature_project, make_worker
):
    project = feature_project(auto_label_threshold=1.0)  # votes, labels nothing alone
    rate = project.spot_check_rate
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 100)
    first = project_train(project=project)
    assert first.is_useful
    voted = list(Item.objects.filter(project=project, status="open", model_version=first))
    audited = [i for i in voted if spot_checked(i.pk, rate)]
    helped = [i for i in voted if not spot_checked(i.pk, rate)]
    assert audited and helped
    # People decide the audit share alone, and get it first; the others with the model's vote.
    assert all(model_vote(item=i, project=project) is None for i in audited)
    assert all(model_vote(item=i, project=project) is not None for i in helped)
    assert not any(i.model_assisted for i in audited) and all(i.model_assisted for i in helped)
    assert all(i.priority == 0 for i in audited if i.answers_count == 0)
    assert min(i.priority for i in helped if i.answers_count == 0) > 0

    # An expert's answer settles an item whatever the vote says: it measures the model too.
    expert = make_worker()
    standing = standing_get(worker=expert, project=project)
    standing_expert_set(standing=standing, expert=True, actor=project.owner)
    label_by_people(project, [*workers, expert], 150)
    second = project_train(project=project)
    final = Item.objects.filter(project=project, status="final", label_source__in=HUMAN_SOURCES)
    assert final.filter(label_source="review", model_version=first).exists()
    independent = [
        i
        for i in final
        if i.gold_label
        or i.label_source == "review"
        or i.model_version_id is None
        or spot_checked(i.pk, rate)
    ]
    assert 0 < len(independent) < second.n_train == final.count()
    # The second version measured itself only on labels the first one did not help decide.
    reason = AuditEvent.objects.filter(action="model.train").latest("pk").reason
    assert f"{second.n_train} labels ({len(independent)} measured it)" in reason


def test_the_model_never_trains_on_its_own_labels(feature_project, make_worker):
    project = feature_project()
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 120)
    first = project_train(project=project)
    assert first.items_auto_labeled > 0
    project.model_retrain_every = 1
    project.save(update_fields=["model_retrain_every"])
    assert not training_due(project=project)  # its own labels are no new labels


def test_the_report_shows_each_model_pass(feature_project, make_worker, client, requester):
    project = feature_project()
    label_by_people(project, [make_worker() for _ in range(3)], 120)
    version = project_train(project=project)
    passes = project_report(project=project).model_passes
    assert len(passes) == 1 and passes[0]["version"] == version.version
    assert passes[0]["labeled_by_model"] == version.items_auto_labeled
    client.force_login(requester)
    assert "Model passes" in client.get(f"/reports/projects/{project.pk}/").content.decode()


def test_the_report_measures_agreement_only_on_labels_the_vote_did_not_help_decide(
    feature_project, make_worker
):
    project = feature_project(auto_label_threshold=1.0)  # votes, labels nothing alone
    workers = [make_worker() for _ in range(3)]
    label_by_people(project, workers, 100)
    version = project_train(project=project)
    assert version.is_useful
    # People label more; the version's agreement with them counts only the labels its vote did
    # not help decide (the spot-check share here): the assisted ones would agree by echo.
    label_by_people(project, workers, 150)
    voted = Item.objects.filter(
        project=project, model_version=version, status="final", label_source="crowd"
    )
    independent = voted.filter(model_assisted=False)
    assert voted.filter(model_assisted=True).exists() and independent.exists()
    row = project_report(project=project).model_passes[0]
    assert row["agreement_count"] == independent.count() < voted.count()
    agreed = sum(i.model_label == i.final_label for i in independent)
    assert row["agreement_with_people"] == pytest.approx(agreed / independent.count())


def test_admin_turns_the_model_on_only_with_its_feature_fields(client, requester, project_form):
    client.force_login(requester)
    page = client.post(
        "/admin/tasks/project/add/", project_form(model_enabled="on")
    ).content.decode()
    assert "Name the payload fields the model reads" in page
    page = client.post(
        "/admin/tasks/project/add/",
        project_form(model_enabled="on", model_features='{"text": "body"}'),
    ).content.decode()
    assert "Use {&quot;text&quot;" in page
    response = client.post(
        "/admin/tasks/project/add/",
        project_form(
            model_enabled="on", model_features='{"text": ["body"], "numeric": ["length"]}'
        ),
    )
    assert response.status_code == 302
    assert requester.projects.get().model_features == {"text": ["body"], "numeric": ["length"]}


def useful_version(project):
    """A stored model version better than chance (its votes count), as if trained earlier."""
    return ModelVersion.objects.create(
        project=project,
        version=1,
        classifier="logreg",
        n_train=60,
        cv_accuracy=0.8,
        cv_accuracy_lower=0.7,
        chance_rate=0.5,
        is_useful=True,
        confusion=[[1, 0], [0, 1]],
        voter_confusion=[],
        training_seconds=0.1,
    )


def test_turning_the_model_on_sends_the_spot_check_share_to_people_first(live_project, requester):
    project = live_project(tasks=4)
    version = useful_version(project)
    voted = Item.objects.filter(project=project, answers_count=0).first()
    Item.objects.filter(pk=voted.pk).update(model_version=version, confidence=0.7)
    on = {"model_enabled": True, "model_features": {"text": ["text"]}, "spot_check_rate": 1.0}
    api = token_client(requester)
    assert api.patch(f"/api/v1/projects/{project.pk}/", on, format="json").status_code == 200
    assert Item.objects.get(pk=voted.pk).priority == 0.0  # audited: people, first, alone
    others = Item.objects.filter(project=project, answers_count=0).exclude(pk=voted.pk)
    assert set(others.values_list("priority", flat=True)) == {1.0}  # no vote: wait for one


def test_turning_the_model_on_or_off_re_keys_only_the_items_nobody_started(
    live_project, make_worker, requester, client, project_form
):
    """Routing follows the setting in force: with the model on, people finish what they started
    and the unstarted items wait for its vote; off again, people spread first answers."""
    project = live_project(tasks=4)
    lease = assignment_claim(worker=make_worker(), project=project)
    answer_submit(assignment=lease, worker=lease.worker, label="pos")
    started = Item.objects.get(pk=lease.item_id)

    def unstarted_keys():
        return set(
            Item.objects.filter(project=project, answers_count=0).values_list("priority", flat=True)
        )

    assert unstarted_keys() == {0.0}
    # One item still carries a useful vote from a time the model was on: its confidence is its key.
    old_vote = useful_version(project)
    voted = Item.objects.filter(project=project, answers_count=0).first()
    Item.objects.filter(pk=voted.pk).update(model_version=old_vote, confidence=0.7)
    api = token_client(requester)
    on = {"model_enabled": True, "model_features": {"text": ["text"]}}
    none_audited = {**on, "spot_check_rate": 0.0}  # (all audited: the next test)
    assert (
        api.patch(f"/api/v1/projects/{project.pk}/", none_audited, format="json").status_code == 200
    )
    assert unstarted_keys() == {1.0, 0.7}
    assert Item.objects.get(pk=voted.pk).priority == 0.7
    assert Item.objects.get(pk=started.pk).priority == started.priority  # left to its posterior
    # The admin's change form goes through the same service.
    client.force_login(requester)
    form = project_form(
        name=project.name,
        labels="pos\nneg\n",
        reward="0.0500",
        exam_size=0,
        gold_rate=0.0,
        model_features='{"text": ["text"]}',
    )  # model_enabled left out: the checkbox is off
    form.pop("budget")
    response = client.post(f"/admin/tasks/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert unstarted_keys() == {0.0}


def test_the_admin_refuses_to_change_labels_once_items_exist(
    live_project, requester, client, project_form
):
    project = live_project(tasks=2)
    client.force_login(requester)
    form = project_form(name=project.name, labels="yes\nno\n", reward="0.0500")
    form.pop("budget")
    page = client.post(f"/admin/tasks/project/{project.pk}/change/", form).content.decode()
    assert "The labels cannot change once the project has items." in page
    project.refresh_from_db()
    assert project.labels == ["pos", "neg"]


def test_a_settings_conflict_found_at_save_time_is_a_message_not_a_server_error(
    live_project, requester, client, project_form, monkeypatch
):
    """Items imported between the form's check and the save (a race): the service refuses."""
    from hitl_platform.errors import Conflict  # noqa: PLC0415
    from tasks import services  # noqa: PLC0415

    def refuse(*, project, **fields):
        raise Conflict("The labels cannot change once the project has items.")

    monkeypatch.setattr(services, "project_update", refuse)
    project = live_project(tasks=1)
    client.force_login(requester)
    form = project_form(name="Renamed", labels="pos\nneg\n", reward="0.0500")
    form.pop("budget")
    response = client.post(f"/admin/tasks/project/{project.pk}/change/", form, follow=True)
    assert response.status_code == 200
    assert "The labels cannot change once the project has items." in response.content.decode()
    project.refresh_from_db()
    assert project.name != "Renamed"
