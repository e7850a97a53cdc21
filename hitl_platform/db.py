"""Database helpers the ORM has no fast form of."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, router
from django.db.models import Model


def rows_update(model: type[Model], objs: Iterable[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of each object to its row by primary key, in one ``executemany``.

    What ``bulk_update`` does, without building a ``CASE WHEN`` expression per row and field:
    a refit re-decides thousands of items, and resolving those expressions cost more than the
    refit's arithmetic (0.65 s a batch of 500 items on SQLite). Values are prepared by each
    field, as the ORM would; no signals, no ``auto_now`` (like ``update``).
    """
    objs = list(objs)
    if not objs:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in columns),
        quote(meta.pk.column),
    )
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(objs)
