"""Results export as CSV or JSON Lines, streamed in chunks so that memory stays flat."""

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import Prefetch

from audit.services import audit_record

from .models import Assignment, Item, Project

CSV_COLUMNS = ["external_id", "status", "final_label", "confidence", "source", "answers"]
CHUNK = 2000
FORMATS = ("csv", "jsonl")


def _items(project: Project):
    qs = Item.objects.filter(project=project).order_by("id")
    answered = Assignment.objects.filter(status__in=Assignment.ANSWERED).order_by("id")
    qs = qs.prefetch_related(
        Prefetch(
            "assignments",
            queryset=answered.only("id", "item_id", "worker_id", "label", "status", "submitted_at"),
            to_attr="answers",
        )
    )
    fields = ["id", "external_id", "status", "final_label", "confidence", "label_source"]
    return qs.only(*fields).iterator(chunk_size=CHUNK)


def _record(item: Item) -> dict:
    return {
        "external_id": item.external_id,
        "status": item.status,
        "final_label": item.final_label or None,
        "confidence": item.confidence,
        "source": item.label_source or None,
        "answers": len(item.answers),
    }


def export_lines(project: Project, fmt: str, *, actor=None) -> Iterator[str]:
    """Yield the export of ``project`` as text chunks, one item per line.

    The export is an audit event (``results.export``, with ``actor``; empty for a command),
    written when the first chunk is asked for, so a response that is never sent records nothing.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    audit_record(
        action="results.export",
        reason=f"Results exported as {fmt}.",
        actor=actor,
        project=project,
        data={"format": fmt},
    )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for item in _items(project):
            rec = _record(item)
            rec["final_label"] = rec["final_label"] or ""
            rec["source"] = rec["source"] or ""
            rec["confidence"] = "" if rec["confidence"] is None else f"{rec['confidence']:.6f}"
            writer.writerow([rec[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    elif fmt == "jsonl":
        for item in _items(project):
            rec = _record(item)
            rec["worker_answers"] = [
                {
                    "worker": a.worker_id,
                    "label": a.label,
                    "status": a.status,
                    "submitted_at": a.submitted_at.isoformat() if a.submitted_at else None,
                }
                for a in item.answers
            ]
            yield json.dumps(rec, ensure_ascii=False) + "\n"
    else:
        raise ValueError(f"unknown export format {fmt!r}")
