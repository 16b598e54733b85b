"""What one API call gathers on its way for its answer's headers and its audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.types import Scope

from api.ratelimit import Decision

if TYPE_CHECKING:
    from api.auth.guard import Principal

# The one key this module keeps in the ASGI scope's state.
_KEY = "pms_bridge_call"


@dataclass(slots=True)
class AuditNotes:
    """What the audit log records for a call beyond method, route and status."""

    action: str
    entity_type: str
    entity_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Call:
    principal: Principal | None = None
    # The address a call without credentials was rate-limited as (the token routes).
    client: str | None = None
    ratelimit: Decision | None = None
    # The hotel of a call that names one without a principal (a token request).
    hotel_id: int | None = None
    error: str | None = None
    audit: AuditNotes | None = None


def call_of(scope: Scope) -> Call:
    """The call's record, made on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    found = state.get(_KEY)
    if found is None:
        found = state[_KEY] = Call()
    assert isinstance(found, Call)
    return found
