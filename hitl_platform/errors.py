class ApplicationError(Exception):
    """A domain rule said no. Views show ``message`` to the user; the API answers 400 with it."""

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
