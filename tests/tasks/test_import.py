"""Importing items: a good file imports whole; a file with any bad row imports nothing and names every line."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from tasks.models import Item, ItemImport
from tasks.services import ImportRejected, items_import

GOOD_CSV = (
    "external_id,gold_label,text,url\n"
    "r1,pos,A joyous film,http://example.com/1\n"
    'r2,,"Dull, long, ""slow""",\n'
    'r3,neg,"line one\nline two",\n'
)


def test_csv_import_creates_items_with_their_fields(project):
    assert items_import(project=project, data=GOOD_CSV.encode(), fmt="csv") == 3
    r1, r2, r3 = Item.objects.filter(project=project).order_by("external_id")
    assert r1.payload == {"text": "A joyous film", "url": "http://example.com/1"}
    assert r2.payload["text"] == 'Dull, long, "slow"'
    assert r3.payload["text"] == "line one\nline two"
    assert (r1.gold_label, r1.status, r1.final_label, r1.label_source) == (
        "pos",
        "final",
        "pos",
        "gold",
    )
    assert (r2.gold_label, r2.status, r2.final_label) == ("", "open", "")


def test_jsonl_import_accepts_a_payload_object_or_flat_fields(project):
    lines = [
        {"external_id": "a", "payload": {"text": "héllo <b>", "n": 3}},
        {"external_id": 7, "gold_label": "neg", "text": "flat"},
        {},
    ]
    data = "\n".join(json.dumps(x) if x else "" for x in lines).encode()
    assert items_import(project=project, data=data, fmt="jsonl") == 2
    assert Item.objects.get(external_id="a").payload == {"text": "héllo <b>", "n": 3}
    assert Item.objects.get(external_id="7").payload == {"text": "flat"}


def test_utf8_bom_from_spreadsheet_programs_is_accepted(project):
    data = "\ufeffexternal_id,text\nx,y\n".encode()
    assert items_import(project=project, data=data, fmt="csv") == 1


def rejected(project, data: bytes, fmt="csv") -> list[str]:
    before = Item.objects.count()
    with pytest.raises(ImportRejected) as info:
        items_import(project=project, data=data, fmt=fmt)
    assert Item.objects.count() == before, "a rejected file must import nothing"
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"id,text\n1,a\n", "csv", "line 1: missing column 'external_id'"),
        (b"external_id,text\n1,a\n2\n", "csv", "line 3: expected 2 fields, found 1"),
        (b"external_id,text\n1,a,extra\n", "csv", "line 2: expected 2 fields, found 3"),
        (
            b"external_id,gold_label\n1,pos\n2,maybe\n",
            "csv",
            "line 3: gold label 'maybe' is not one of the project's labels (pos, neg)",
        ),
        (b"external_id\n1\n2\n1\n", "csv", "line 4: duplicate external_id '1' (first on line 2)"),
        (b"external_id\n \n", "csv", "holds no items"),
        (b"external_id,text\n,a\n", "csv", "line 2: empty external_id"),
        (b'{"external_id": "a"}\n{"external_id": "b",}\n', "jsonl", "line 2: invalid JSON"),
        (b'{"external_id": "a"}\n["b"]\n', "jsonl", "line 2: each line must be a JSON object"),
        (b'{"text": "a"}\n', "jsonl", "line 1: missing field 'external_id'"),
        (
            b'{"external_id": "a", "payload": "x"}\n',
            "jsonl",
            "line 1: 'payload' must be a JSON object",
        ),
        (
            b"external_id,text\n1,caf\xe9\n2,ok\n3,\xff\n",
            "csv",
            "line 2: not valid UTF-8 (byte 0xe9",
        ),
        (b"", "csv", "line 1: the file is empty"),
        (b"external_id,,x,x\n1,2,3,4\n", "csv", "a column has no name; duplicate column 'x'"),
    ],
)
def test_each_bad_row_rejects_the_whole_file(project, data, fmt, expected):
    Item.objects.create(project=project, external_id="already-here")
    errors = rejected(project, data, fmt)
    assert any(expected in e for e in errors), errors


def test_every_error_is_listed_with_its_line(project):
    Item.objects.create(project=project, external_id="old")
    data = b"external_id,gold_label\nok1,pos\nold,\nok2,meh\nok1,neg\nok3,neg\n"
    errors = rejected(project, data)
    assert errors == [
        "line 3: external_id 'old' already exists in this project",
        "line 4: gold label 'meh' is not one of the project's labels (pos, neg)",
        "line 5: duplicate external_id 'ok1' (first on line 2)",
    ]


def test_wrong_encoding_names_every_bad_line(project):
    errors = rejected(project, "external_id,text\n1,café\n2,naïve\n3,ok\n".encode("latin-1"))
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3"]


# --- the admin: upload, preview, confirm ---


def upload(client, project, name, content: bytes):
    url = reverse("admin:tasks_project_import", args=[project.pk])
    return client.post(url, {"file": SimpleUploadedFile(name, content)}, follow=True)


def test_admin_upload_shows_a_preview_and_imports_on_confirm(client, requester, project):
    client.force_login(requester)
    response = upload(client, project, "reviews.csv", GOOD_CSV.encode())
    page = response.content.decode()
    assert "3</strong> items are ready to import" in page
    assert "A joyous film" in page
    assert Item.objects.count() == 0, "nothing is imported before the requester confirms"

    review_url = response.redirect_chain[-1][0]
    response = client.post(review_url, follow=True)
    assert "Imported 3 items" in response.content.decode()
    assert Item.objects.filter(project=project).count() == 3
    # A second confirm (double click, browser back) imports nothing more.
    client.post(review_url, follow=True)
    assert Item.objects.filter(project=project).count() == 3
    assert ItemImport.objects.get().status == "imported"


def test_admin_upload_of_a_bad_file_lists_errors_and_imports_nothing(client, requester, project):
    client.force_login(requester)
    response = upload(client, project, "bad.csv", b"external_id,gold_label\n1,pos\n2,nope\n2,neg\n")
    page = response.content.decode()
    assert "nothing was imported" in page
    assert "line 3: gold label" in page and "line 4: duplicate external_id" in page
    assert "ready to import" not in page
    assert client.post(response.redirect_chain[-1][0]).status_code == 200
    assert Item.objects.count() == 0


def test_admin_upload_escapes_item_text_in_the_preview(client, requester, project):
    client.force_login(requester)
    page = upload(
        client, project, "x.csv", b"external_id,text\n1,<script>alert(1)</script>\n"
    ).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_admin_refuses_an_unknown_file_type_and_an_oversized_file(
    client, requester, project, settings
):
    client.force_login(requester)
    assert (
        "upload a .csv or .jsonl file"
        in upload(client, project, "items.xlsx", b"PK..").content.decode()
    )
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    page = upload(client, project, "big.csv", b"external_id\n" + b"x\n" * 600_000).content.decode()
    assert "the limit is 1 MB" in page
    assert Item.objects.count() == 0


# --- the command ---


def test_import_command_imports_a_file(project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_text('{"external_id": "a", "text": "x"}\n{"external_id": "b", "text": "y"}\n')
    call_command("import_items", str(project.pk), str(path))
    assert "Imported 2 items" in capsys.readouterr().out
    assert project.items.count() == 2


def test_import_command_reports_each_bad_line_and_fails(project, tmp_path, capsys):
    path = tmp_path / "items.csv"
    path.write_text("external_id,gold_label\na,pos\nb,unknown\n")
    with pytest.raises(CommandError, match="1 error"):
        call_command("import_items", str(project.pk), str(path))
    assert "items.csv: line 3: gold label 'unknown'" in capsys.readouterr().err
    assert project.items.count() == 0


def test_import_command_names_a_missing_project(db, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("external_id\na\n")
    with pytest.raises(CommandError, match="no project with id 999"):
        call_command("import_items", "999", str(path))


def test_audit_labels_are_kept_from_workers_and_checked(project):
    data = b"external_id,audit_label,text\na,pos,x\nb,,y\n"
    assert items_import(project=project, data=data, fmt="csv") == 2
    a = Item.objects.get(external_id="a")
    assert (a.audit_label, a.gold_label, a.status, a.payload) == ("pos", "", "open", {"text": "x"})
    errors = rejected(project, b"external_id,audit_label,gold_label\nc,maybe,\nd,pos,neg\n")
    assert errors == [
        "line 2: audit label 'maybe' is not one of the project's labels (pos, neg)",
        "line 3: an item has a gold label or an audit label, not both",
    ]


def test_an_import_killed_halfway_leaves_nothing_and_a_rerun_imports_everything_once(
    project, monkeypatch
):
    rows = "external_id,text\n" + "".join(f"r{n},text {n}\n" for n in range(5000))
    real_bulk_create = Item.objects.bulk_create
    calls = []

    def dies_after_first_batch(objs, batch_size=None, **kwargs):
        real_bulk_create(objs[:batch_size], batch_size=batch_size, **kwargs)
        calls.append(len(objs))
        raise KeyboardInterrupt("process killed")

    monkeypatch.setattr(Item.objects, "bulk_create", dies_after_first_batch)
    with pytest.raises(KeyboardInterrupt):
        items_import(project=project, data=rows.encode(), fmt="csv")
    assert calls and Item.objects.filter(project=project).count() == 0
    monkeypatch.undo()
    assert items_import(project=project, data=rows.encode(), fmt="csv") == 5000
    assert Item.objects.filter(project=project).values("external_id").distinct().count() == 5000


def test_nesting_depth_is_measured_without_recursion():
    from tasks.importing import nesting_depth  # noqa: PLC0415

    assert nesting_depth("text") == 0
    assert nesting_depth({"text": "a", "tags": ["x", {"y": [1]}]}) == 4
    deep: list = []
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert nesting_depth({"a": deep}) == 100_002
