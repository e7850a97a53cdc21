"""Projects still on the old fixed floors move to floors relative to guessing.

Its own migration, so that each direction's UPDATE commits apart from the ALTER TABLE of 0009
(PostgreSQL refuses to alter a table with pending trigger events in the same transaction).
"""

from django.db import migrations

# The fixed defaults these floors had. A project still on them never chose a floor: it moves to
# the floor relative to guessing, which is the same 60% / 55% with two labels.
OLD_DEFAULTS = {"block_gold_accuracy": 0.6, "block_estimated_accuracy": 0.55}


def defaults_to_relative(apps, schema_editor):
    projects = apps.get_model("tasks", "Project").objects.using(schema_editor.connection.alias)
    for field, value in OLD_DEFAULTS.items():
        projects.filter(**{field: value}).update(**{field: None})


def relative_to_defaults(apps, schema_editor):
    projects = apps.get_model("tasks", "Project").objects.using(schema_editor.connection.alias)
    for field, value in OLD_DEFAULTS.items():
        projects.filter(**{f"{field}__isnull": True}).update(**{field: value})


class Migration(migrations.Migration):
    dependencies = [("tasks", "0009_quality_floors_relative_to_guessing")]

    operations = [migrations.RunPython(defaults_to_relative, relative_to_defaults)]
