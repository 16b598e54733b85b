"""The API is built without deprecation warnings: every handler and dependency parameter says
where it comes from (NamedDependency, FromPath/FromQuery, HeaderParameter, JSONBody), the style
Litestar 3 requires. Litestar 2.25 still infers the rest and only warns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: a parameter declaration warns when its module is imported, which in
# the test process happened long before this test.
BUILD = """
from litestar.testing import TestClient

from api.app import create_app
from api.context import ApiContext
from bridge.cache.memory import MemoryCache
from bridge.config import Settings

app = create_app(ApiContext(settings=Settings(), cache=MemoryCache()))
with TestClient(app) as client:
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200, document.text
    assert "/api/booking-engine/bookings" in document.json()["paths"]
"""


def test_app_and_openapi_document_build_with_deprecation_warnings_as_errors() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", BUILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
