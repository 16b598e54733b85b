"""Webhook secrets: sealed at rest under BRIDGE_SECRET_KEY, shown once when set, opened only
by delivery, bound to their hotel."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.delivery.sealing import SealError, parse_key, seal, unseal
from bridge.delivery.worker import DeliveryWorker
from tests.support.delivery import book, receiving, sql, sync_row, wait_for
from tests.support.pipeline import run_once
from tests.support.processes import run_cli

KEY = os.urandom(32)
KEY_ENV = {"BRIDGE_SECRET_KEY": base64.b64encode(KEY).decode()}


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_hotel() -> None:
    sealed = seal(KEY, 1, "s3cret")
    assert sealed.startswith("sealed:v1:") and "s3cret" not in sealed
    assert unseal(KEY, 1, sealed) == "s3cret"
    assert seal(KEY, 1, "s3cret") != sealed  # a fresh nonce each time
    with pytest.raises(SealError, match="does not open"):
        unseal(KEY, 2, sealed)
    with pytest.raises(SealError, match="does not open"):
        unseal(os.urandom(32), 1, sealed)
    with pytest.raises(SealError, match="not set"):
        unseal(None, 1, sealed)
    assert unseal(None, 1, "plain-secret") == "plain-secret"


def test_the_key_is_32_bytes_in_hex_or_base64() -> None:
    assert parse_key(KEY.hex()) == KEY
    assert parse_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_key("too-short") is None
    assert parse_key(base64.b64encode(os.urandom(16)).decode()) is None


async def stored_secret(db_url: str, hotel_id: int) -> str:
    rows = await sql(
        db_url,
        "SELECT webhook_secret FROM booking_engine_config WHERE hotel_id = %s"
        " ORDER BY id DESC LIMIT 1",
        (hotel_id,),
    )
    return str(rows[0][0])


async def test_webhook_set_shows_the_secret_once_and_stores_it_sealed(db_url: str) -> None:
    args = ("--database-url", db_url, "webhook", "set", "--hotel", "1")
    code, out, err = await run_cli(*args, "--url", "https://93.184.216.34/hook", env=KEY_ENV)
    assert code == 0, err
    secret = out.strip()
    assert len(secret) == 64 and "shown only now" in err and "sealed" in err
    stored = await stored_secret(db_url, 1)
    assert stored.startswith("sealed:v1:") and secret not in stored
    assert unseal(KEY, 1, stored) == secret
    again, out2, _ = await run_cli(*args, "--url", "https://93.184.216.34/hook", env=KEY_ENV)
    assert again == 0 and out2.strip() != secret


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://93.184.216.34/hook", "https:// URLs only"),
        ("https://10.0.0.7/hook", "private address"),
        ("https://169.254.169.254/latest/meta-data", "link-local address"),
        ("https:///hook", "names no host"),
    ],
)
async def test_webhook_set_refuses_a_destination_delivery_would_refuse(
    db_url: str, url: str, says: str
) -> None:
    code, out, err = await run_cli(
        "--database-url", db_url, "webhook", "set", "--hotel", "1", "--url", url, env=KEY_ENV
    )
    assert code != 0 and out == "" and says in err


@asynccontextmanager
async def delivering(url: str, key: bytes | None) -> AsyncIterator[None]:
    worker = DeliveryWorker(
        url,
        base_delay=0.05,
        max_delay=0.2,
        poll_interval=0.1,
        max_attempts=2,
        retry_for=0.0,
        allow_loopback_http=True,
        secret_key=key,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def settled(url: str, booking: uuid.UUID) -> None:
    async def check() -> bool:
        return bool((await sync_row(url, booking))[0] in ("synced", "failed"))

    await wait_for(check)


async def test_sealed_secrets_sign_deliveries_and_need_the_key(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, lambda _r, _s: 200) as (receiver, secret):
        code, out, err = await run_cli("--database-url", url, "webhook", "seal", env=KEY_ENV)
        assert code == 0 and secret not in out, err
        assert (await stored_secret(url, 1)).startswith("sealed:v1:")
        locked = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, None):
            await settled(url, locked)
        assert receiver.requests == []
        error = (await sync_row(url, locked))[2]
        assert error == "webhook secret: the secret is sealed and BRIDGE_SECRET_KEY is not set"
        opened = await book(url, offset=40)
        await run_once(settings, MemoryCache())
        async with delivering(url, KEY):
            await settled(url, opened)
        assert (await sync_row(url, opened))[0] == "synced"
        assert receiver.requests and all(r.signature_ok for r in receiver.requests)
