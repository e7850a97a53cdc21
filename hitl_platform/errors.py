class ApplicationError(Exception):
    """A domain rule said no. Views show ``message`` to the user; the API answers with
    ``status_code`` (400 unless a subclass says otherwise) and the message."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotAllowed(ApplicationError):
    status_code = 403
    code = "not_allowed"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
