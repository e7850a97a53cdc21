"""What the API accepts as a request body: a size limit, one mixin for every API view, so that no
endpoint reads a body larger than it has any use for (Django's own cap,
``DATA_UPLOAD_MAX_MEMORY_SIZE``, is sized for item imports); and JSON parsed without a 500."""

from rest_framework import exceptions, parsers, status

API_MAX_BODY = 1024 * 1024  # settings, a label, a reason: JSON bodies far below this


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("Invalid Content-Length header.") from None


class BodyLimit:
    """Mixin for an ``APIView``: a body over ``max_body`` bytes is refused with 413 before it is
    read (``None``: the view checks its own limit, as the item import does). Who you are and
    what you may do are decided first (401/403/429)."""

    max_body: int | None = API_MAX_BODY

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.max_body is not None and content_length(request) > self.max_body:
            raise PayloadTooLarge(
                f"The body is {content_length(request):,} bytes; the limit here is "
                f"{self.max_body:,} bytes."
            )


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested deeper than Python's recursion limit refused as bad
    JSON (400) instead of ending in a ``RecursionError`` (500): 1 MB of ``[`` is valid enough to
    reach it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
