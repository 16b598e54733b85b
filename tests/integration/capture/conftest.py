"""Fixtures the logical-capture test modules share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bridge.config import Settings
from tests.support.logical import Harness


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    """A logical bridge with its source open, on the test database."""
    h = Harness(settings)
    await h.bridge._open(asyncio.Event())
    yield h
    await h.bridge._close()
