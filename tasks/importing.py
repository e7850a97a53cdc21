"""Parsing and validation of item files (CSV or JSON Lines). Pure Python: no database access.

A file is accepted whole or not at all: ``parse_items`` returns every row it could read and every
error it found, each with its line number, and the caller imports only when there is no error.

CSV: a header row is required and must contain ``external_id``; an optional ``gold_label`` column
holds known labels used as control questions; an optional ``audit_label`` column holds known labels
kept from workers and quality control, used only to measure accuracy in the reports; every other
column becomes a field of the item's payload (as text).

JSON Lines: one JSON object per line with ``external_id``, an optional ``gold_label`` and either a
``payload`` object or the item's fields as the remaining keys. Blank lines are ignored.
"""

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

RESERVED = ("external_id", "gold_label", "audit_label")
MAX_ERRORS = 1000
MAX_EXTERNAL_ID = 255
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAYLOAD_DEPTH = 32  # nesting of an item's fields: far more than any labeling task needs


def nesting_depth(value) -> int:
    """How deeply lists and objects nest in a JSON value (a scalar is 0), counted without
    recursion: a value nested too deeply for Python's own recursion is measured too."""
    depth, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            depth = max(depth, level)
            continue
        depth = max(depth, level + 1)
        stack.extend((child, level + 1) for child in node)
    return depth


@dataclass(frozen=True)
class ParsedItem:
    line: int
    external_id: str
    payload: dict
    gold_label: str = ""
    audit_label: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ParseResult:
    items: list[ParsedItem] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors_total and bool(self.items)

    def error(self, line: int, message: str) -> None:
        self.errors_total += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, message))


def detect_format(filename: str) -> str | None:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return None


def parse_items(
    data: bytes, *, fmt: str, labels: Iterable[str], existing_ids: Iterable[str] = ()
) -> ParseResult:
    """Read ``data`` as ``fmt`` ("csv" or "jsonl") and check every row against the project."""
    result = ParseResult()
    text = _decode(data, result)
    if text is None:
        return result
    if not text.strip():
        result.error(1, "the file is empty")
        return result
    rows = _csv_rows(text, result) if fmt == "csv" else _jsonl_rows(text, result)
    _check_rows(rows, result, labels=list(labels), existing_ids=set(existing_ids))
    if not result.items and not result.errors_total:
        result.error(0, "the file holds no items")
    return result


def _decode(data: bytes, result: ParseResult) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            result.error(
                number,
                f"not valid UTF-8 (byte 0x{bad} at column {exc.start + 1}); save the file as UTF-8",
            )
    return None


def _csv_rows(text: str, result: ParseResult):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        result.error(1, f"unreadable CSV header ({exc})")
        return
    header = [h.strip() for h in header]
    problems = []
    if "external_id" not in header:
        problems.append("missing column 'external_id'")
    if any(not h for h in header):
        problems.append("a column has no name")
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        problems.append("duplicate column " + ", ".join(repr(h) for h in duplicated))
    if problems:
        result.error(1, "; ".join(problems) + f" (header: {', '.join(header)})")
        return
    fields = [h for h in header if h not in RESERVED]
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            result.error(line, f"unreadable CSV ({exc})")
            return
        start, line = line, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            result.error(start, f"expected {len(header)} fields, found {len(row)}")
            continue
        values = dict(zip(header, row, strict=True))
        yield (
            start,
            values["external_id"],
            values.get("gold_label", ""),
            values.get("audit_label", ""),
            {name: values[name] for name in fields},
        )


def _jsonl_rows(text: str, result: ParseResult):
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            result.error(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            result.error(number, "invalid JSON (nested too deeply)")
            continue
        if not isinstance(obj, dict):
            result.error(number, "each line must be a JSON object")
            continue
        if "external_id" not in obj:
            result.error(number, "missing field 'external_id'")
            continue
        external_id = obj["external_id"]
        if not isinstance(external_id, str | int) or isinstance(external_id, bool):
            result.error(number, "'external_id' must be a string or an integer")
            continue
        gold = obj.get("gold_label") or ""
        audit = obj.get("audit_label") or ""
        if not isinstance(gold, str) or not isinstance(audit, str):
            result.error(number, "'gold_label' and 'audit_label' must be strings")
            continue
        if "payload" in obj:
            payload = obj["payload"]
            if not isinstance(payload, dict):
                result.error(number, "'payload' must be a JSON object")
                continue
        else:
            payload = {k: v for k, v in obj.items() if k not in RESERVED}
        yield number, str(external_id), gold, audit, payload


def _check_rows(rows, result: ParseResult, *, labels: list[str], existing_ids: set[str]) -> None:
    seen: dict[str, int] = {}
    label_set = set(labels)
    for line, external_id, gold, audit, payload in rows:
        external_id = external_id.strip()
        gold, audit = gold.strip(), audit.strip()
        if not external_id:
            result.error(line, "empty external_id")
            continue
        if len(external_id) > MAX_EXTERNAL_ID:
            result.error(line, f"external_id longer than {MAX_EXTERNAL_ID} characters")
            continue
        if external_id in seen:
            result.error(
                line, f"duplicate external_id {external_id!r} (first on line {seen[external_id]})"
            )
            continue
        seen[external_id] = line
        if external_id in existing_ids:
            result.error(line, f"external_id {external_id!r} already exists in this project")
            continue
        if gold and gold not in label_set:
            result.error(
                line,
                f"gold label {gold!r} is not one of the project's labels ({', '.join(labels)})",
            )
            continue
        if audit and audit not in label_set:
            result.error(
                line,
                f"audit label {audit!r} is not one of the project's labels ({', '.join(labels)})",
            )
            continue
        if gold and audit:
            result.error(line, "an item has a gold label or an audit label, not both")
            continue
        if nesting_depth(payload) > MAX_PAYLOAD_DEPTH:
            result.error(line, f"item nested deeper than {MAX_PAYLOAD_DEPTH} levels")
            continue
        if len(json.dumps(payload, ensure_ascii=False).encode()) > MAX_PAYLOAD_BYTES:
            result.error(line, f"item larger than {MAX_PAYLOAD_BYTES // 1024} KB")
            continue
        result.items.append(ParsedItem(line, external_id, payload, gold, audit))
