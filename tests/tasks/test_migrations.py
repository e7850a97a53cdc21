"""Data migrations, run forward and back on a real schema."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tasks", "0008_routing_counts_live_leases")]
AFTER = [("tasks", "0010_projects_on_old_floors_follow_guessing")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_projects_on_the_old_fixed_floors_move_to_floors_relative_to_guessing():
    """A project still on the fixed 60% / 55% never chose them; a requester's own floor stays."""
    try:
        apps = migrate(BEFORE)
        user = apps.get_model("auth", "User").objects.create(username="owner")
        projects = apps.get_model("tasks", "Project").objects
        on_defaults = projects.create(
            owner_id=user.pk, name="grades", labels=list("12345"), reward="0.05", budget="0"
        )
        chosen = projects.create(
            owner_id=user.pk,
            name="strict",
            labels=["a", "b"],
            reward="0.05",
            budget="0",
            block_gold_accuracy=0.8,
            block_estimated_accuracy=0.7,
        )
        assert (on_defaults.block_gold_accuracy, on_defaults.block_estimated_accuracy) == (
            0.6,
            0.55,
        )
        projects = migrate(AFTER).get_model("tasks", "Project").objects
        floors = dict(
            projects.values_list("pk", "block_gold_accuracy").filter(
                pk__in=[on_defaults.pk, chosen.pk]
            )
        )
        assert floors == {on_defaults.pk: None, chosen.pk: 0.8}
        assert projects.get(pk=on_defaults.pk).block_estimated_accuracy is None
        assert projects.get(pk=chosen.pk).block_estimated_accuracy == 0.7
        projects = migrate(BEFORE).get_model("tasks", "Project").objects  # and back
        assert projects.get(pk=on_defaults.pk).block_gold_accuracy == 0.6
        assert projects.get(pk=chosen.pk).block_gold_accuracy == 0.8
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_items_a_useful_model_voted_on_count_as_model_assisted():
    """Labels decided before the flag existed: a useful version's vote may have helped, so they
    no longer measure the model; a vote of a version no better than chance changed nothing."""
    before, after = (
        [("tasks", "0010_projects_on_old_floors_follow_guessing")],
        [("tasks", "0012_items_voted_on_were_model_assisted")],
    )
    try:
        apps = migrate(before)
        user = apps.get_model("auth", "User").objects.create(username="owner")
        project = apps.get_model("tasks", "Project").objects.create(
            owner_id=user.pk, name="p", labels=["a", "b"], reward="0.05", budget="0"
        )
        versions = apps.get_model("tasks", "ModelVersion").objects
        common = {"project_id": project.pk, "classifier": "logreg", "features": {}, "n_train": 50}
        common |= {"cv_accuracy": 0.9, "cv_accuracy_lower": 0.8, "chance_rate": 0.5}
        common |= {"confusion": [], "voter_confusion": [], "training_seconds": 1.0}
        useful = versions.create(version=1, is_useful=True, **common)
        useless = versions.create(version=2, is_useful=False, **common)
        items = apps.get_model("tasks", "Item").objects
        for name, version in (("voted", useful), ("ignored", useless), ("none", None)):
            items.create(project_id=project.pk, external_id=name, model_version=version)
        items = migrate(after).get_model("tasks", "Item").objects
        assisted = dict(items.values_list("external_id", "model_assisted"))
        assert assisted == {"voted": True, "ignored": False, "none": False}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_routing_index_is_rebuilt_without_locking_the_items():
    """An upgrade on a large items table keeps serving claims and submits: the new routing index
    is built and the old one dropped concurrently, then renamed; forward and back."""
    out = StringIO()
    call_command("sqlmigrate", "tasks", "0013", stdout=out)
    sql = out.getvalue()
    assert 'CREATE INDEX CONCURRENTLY "item_open_routing_new"' in sql
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "item_open_routing"' in sql

    def routing_index():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'tasks_item'"
                " AND indexname LIKE 'item_open_routing%%'"
            )
            return [row[0] for row in cursor.fetchall()]

    try:
        migrate([("tasks", "0012_items_voted_on_were_model_assisted")])
        assert [
            "(project_id, priority, answers_count, leases_count, id)" in d for d in routing_index()
        ] == [True]
        migrate([("tasks", "0013_routing_answers_on_the_way_first")])
        (index,) = routing_index()
        assert "item_open_routing ON" in index
        assert "(project_id, leases_count, priority, answers_count, id)" in index
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
