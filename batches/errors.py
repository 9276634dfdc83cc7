"""One exception type for domain errors; `batches.api.errors` turns it into the SPEC's 409."""


class DomainError(Exception):
    """An action not allowed now. `code` names the unmet condition (SPEC §4)."""

    http_status = 409

    def __init__(self, code: str, detail: str, *, status: str = "", allowed=(), **extra):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.allowed = list(allowed)
        self.extra = extra

    def as_body(self) -> dict:
        return {"detail": self.detail, "code": self.code, "status": self.status, "allowed": self.allowed, **self.extra}


class InputError(Exception):
    """Bad input found by a service (e.g. per-code problems of a release): answered as 400."""

    def __init__(self, errors: dict):
        super().__init__(str(errors))
        self.errors = errors
