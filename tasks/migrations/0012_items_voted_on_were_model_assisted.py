"""Items a useful model version voted on were decided with its vote: mark them as assisted.

Its own migration, so that the UPDATE commits apart from the ALTER TABLE of 0011 (PostgreSQL
refuses to alter a table with pending trigger events in the same transaction). Which of them
were spot-checked is not known for labels decided before 0011, so all of them count as assisted:
they teach the model and no longer measure it.
"""

from django.db import migrations


def mark_assisted(apps, schema_editor):
    items = apps.get_model("tasks", "Item").objects.using(schema_editor.connection.alias)
    items.filter(model_version__is_useful=True).update(model_assisted=True)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0011_item_model_assisted")]

    operations = [migrations.RunPython(mark_assisted, migrations.RunPython.noop)]
