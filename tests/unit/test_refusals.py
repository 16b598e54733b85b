"""Every kind of refusal the core modules raise has its one status at the API's edge."""

from __future__ import annotations

import inspect

from api.errors import REFUSED_STATUS
from bridge import errors
from bridge.parked import ParkedNotFound
from bridge.reconcile import NotSyncing


def test_every_kind_has_its_status() -> None:
    kinds = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.Refused)
    }
    assert set(REFUSED_STATUS) == kinds
    assert {cls.__name__: code for cls, code in REFUSED_STATUS.items()} == {
        "NotFound": 404,
        "Invalid": 400,
        "Unprocessable": 422,
        "Conflict": 409,
        "Unavailable": 503,
        "Refused": 400,
    }


def test_the_bridges_refusals_keep_their_codes() -> None:
    missing = ParkedNotFound("no parked change 7")
    resend = NotSyncing("hotel 2 has no booking_engine_config row with sync_enabled")
    assert (missing.error, missing.detail, str(missing)) == (
        "not_found",
        "no parked change 7",
        "no parked change 7",
    )
    assert isinstance(missing, errors.NotFound)
    assert (resend.error, isinstance(resend, errors.Conflict)) == ("conflict", True)
