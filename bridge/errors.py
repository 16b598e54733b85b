"""Why a request is refused, whoever carries it out: each kind is one status of the API's
answer (mapped once, in api/errors.py) and one error line of the CLI."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A request that cannot be carried out: `error` is a short code, `detail` says why (a
    sentence, or a JSON-able object such as the rooms still free for a refused stay)."""

    def __init__(self, error: str, detail: str | dict[str, Any]) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


class NotFound(Refused):
    """What the request names does not exist."""


class Invalid(Refused):
    """The request contradicts itself, such as a range that ends before it starts."""


class Unprocessable(Refused):
    """The request is well formed but breaks a rule of what it asks for, such as a stay
    longer than allowed."""


class Conflict(Refused):
    """The request does not fit the current state, such as resending to a hotel that does not
    sync."""


class Unavailable(Refused):
    """What the request needs is not there to serve it, such as a database not configured."""
