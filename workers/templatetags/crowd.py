"""Template filters of the crowd worker UI: safe Markdown, money, and an item's payload.

Item payloads come from requesters' files and are shown through Django's autoescaping only;
nothing here marks payload text safe. Instructions are Markdown rendered to HTML and then cleaned
by nh3 (an allow-list sanitizer), so a ``<script>`` or an ``onerror=`` never reaches the page.
"""

import json
from decimal import Decimal
from urllib.parse import urlsplit

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

#: Payload keys shown as the item's main text, and as its image (http or https URLs only).
TEXT_KEYS = ("text",)
IMAGE_KEYS = ("image_url", "image")
SUMMARY_CHARS = 90


@register.filter
def markdown(text: str) -> str:
    html = markdown_lib.markdown(text or "", extensions=["extra", "sane_lists"])
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow"))  # noqa: S308


@register.filter
def money(amount) -> str:
    """``0.0500`` → ``0.05``; ``0.0125`` → ``0.0125``: at least two decimals, no trailing zeros."""
    if amount is None or amount == "":
        return "—"
    amount = Decimal(amount)
    text = f"{amount:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def _image_url(value) -> str:
    if isinstance(value, str) and urlsplit(value.strip()).scheme in ("http", "https"):
        return value.strip()
    return ""


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@register.filter
def item_view(payload) -> dict:
    """Split a payload into its main text, an image URL and the other fields, all plain strings.

    ``{"text": …}`` is the main text, ``{"image_url": …}`` (or ``image``) an image when it is an
    http(s) URL; every other field is listed as a name and a value, in the payload's order.
    """
    if not isinstance(payload, dict):
        return {"text": _as_text(payload), "image": "", "fields": []}
    text_key = next((k for k in TEXT_KEYS if _as_text(payload.get(k)).strip()), None)
    image_key = next((k for k in IMAGE_KEYS if _image_url(payload.get(k))), None)
    return {
        "text": _as_text(payload[text_key]) if text_key else "",
        "image": _image_url(payload[image_key]) if image_key else "",
        "fields": [
            (str(k), _as_text(v)) for k, v in payload.items() if k not in (text_key, image_key)
        ],
    }


@register.filter
def item_summary(payload) -> str:
    """A short line to recognise an item by in the history (plain text; escaped by the template)."""
    view = item_view(payload)
    text = view["text"] or next((v for _, v in view["fields"] if v), "") or view["image"]
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@register.filter
def mmss(seconds) -> str:
    seconds = max(int(seconds or 0), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
