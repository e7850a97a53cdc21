"""Filters of the worker UI: money display, safe Markdown, payload views."""

from decimal import Decimal

import pytest

from workers.templatetags.crowd import item_summary, item_view, markdown, mmss, money


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0.0500"), "0.05"),
        (Decimal("0.0125"), "0.0125"),
        (Decimal("12"), "12.00"),
        (Decimal("3.1000"), "3.10"),
        (None, "—"),
    ],
)
def test_money(amount, shown):
    assert money(amount) == shown


def test_markdown_strips_scripts_handlers_and_javascript_links():
    html = markdown(
        '# Title\n\n<script>alert(1)</script>\n\n<a href="javascript:alert(1)">x</a>\n\n'
        '<p onclick="alert(1)">p</p>\n\n<iframe src="https://example.org"></iframe>\n\n- a\n- b'
    )
    assert "<h1>Title</h1>" in html and "<li>a</li>" in html
    for bad in ("<script", "javascript:", "onclick", "<iframe"):
        assert bad not in html


def test_item_view_splits_text_image_and_fields():
    view = item_view(
        {"text": "Hello", "image_url": "http://x.org/a.png", "lang": "en", "tags": [1]}
    )
    assert view == {
        "text": "Hello",
        "image": "http://x.org/a.png",
        "fields": [("lang", "en"), ("tags", "[1]")],
    }
    assert item_view({"hypothesis": "H"})["fields"] == [("hypothesis", "H")]
    assert item_view("plain")["text"] == "plain"
    assert item_view({"image": "data:image/png;base64,AAA"})["image"] == ""


def test_item_summary_is_short_and_plain():
    assert item_summary({"text": "a  b\nc"}) == "a b c"
    assert len(item_summary({"text": "x" * 500})) == 90
    assert item_summary({"question": "Q?"}) == "Q?"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (59, "0:59"), (600, "10:00"), (3661, "1:01:01"), (-5, "0:00")],
)
def test_mmss(seconds, shown):
    assert mmss(seconds) == shown
