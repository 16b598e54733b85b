"""Deliveries carry Standard Webhooks headers that the `standardwebhooks` library verifies."""

from __future__ import annotations

import base64
import secrets
import time

import msgspec
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.delivery.receiver import Received
from bridge.delivery.signing import standard_headers, standard_secret, verify_standard
from tests.support.delivery import (
    book,
    delivering,
    fail_first,
    receiving,
    sql,
    synced,
    wait_for,
)
from tests.support.pipeline import run_once


def library_verifies(secret: str, request: Received) -> bool:
    try:
        Webhook(standard_secret(secret)).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_a_delivery_and_its_retry_verify_with_the_library(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, fail_first(503)) as (receiver, secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url):
            await wait_for(synced(url, booking))

    first, retry = receiver.requests
    event_id = msgspec.json.decode(first.body)["event_id"]
    # One id for the event on every attempt, the one the body and Idempotency-Key carry.
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == event_id == first.key
    for request in (first, retry):
        assert request.signature_ok and request.legacy_signature_ok
        assert library_verifies(secret, request)
        # The library hands back the event it verified.
        verified = Webhook(standard_secret(secret)).verify(request.body, request.headers)
        assert verified["reservation"]["id"] == str(booking)
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 300
        assert request.headers["webhook-signature"].startswith("v1,")
    assert not library_verifies("another secret", first)
    tampered = msgspec.structs.replace(first, body=first.body.replace(b"confirmed", b"cancelled"))
    assert not library_verifies(secret, tampered)


async def test_a_whsec_secret_is_used_as_the_library_reads_it(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    key = secrets.token_bytes(24)
    stored = "whsec_" + base64.b64encode(key).decode()
    async with receiving(url, fail_first(200)) as (receiver, _generated):
        await sql(url, "UPDATE booking_engine_config SET webhook_secret = %s", (stored,))
        receiver.secrets[1] = stored
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url):
            await wait_for(synced(url, booking))
    (request,) = receiver.requests
    assert standard_secret(stored) == stored
    assert request.signature_ok
    # The booking engine's own copy of the secret, exactly as stored, verifies.
    Webhook(stored).verify(request.body, request.headers)


async def test_both_secrets_sign_during_a_rotation(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    new = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    async with receiving(url, fail_first(200)) as (receiver, old):
        await sql(
            url,
            "UPDATE booking_engine_config SET webhook_secret_previous = webhook_secret,"
            " webhook_secret = %s",
            (new,),
        )
        rotating = await book(url, offset=20)
        await run_once(settings, MemoryCache())
        async with delivering(url):
            await wait_for(synced(url, rotating))
        # The rotation ends when its end passes: the old secret signs no more.
        receiver.secrets[1] = new
        await sql(
            url,
            "UPDATE booking_engine_config"
            " SET webhook_secret_previous_until = now() - interval '1 second'",
        )
        after = await book(url, offset=30)
        await run_once(settings, MemoryCache())
        async with delivering(url):
            await wait_for(synced(url, after))

    during, ended = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    # A receiver still on the old secret and one already on the new both accept it.
    assert library_verifies(old, during) and library_verifies(new, during)
    assert len(ended.headers["webhook-signature"].split(" ")) == 1
    assert library_verifies(new, ended) and not library_verifies(old, ended)


async def test_a_timestamp_outside_the_window_is_refused() -> None:
    """The replay window the docs give is the libraries' 5 minutes, both ways."""
    secret = secrets.token_hex(32)
    body = b'{"event_id": "e"}'
    now = int(time.time())
    for skew, accepted in ((0, True), (-290, True), (-310, False), (310, False)):
        headers = standard_headers([secret], "msg_1", now + skew, body)
        assert verify_standard(secret, headers, body, now) is accepted
        if accepted:
            Webhook(standard_secret(secret)).verify(body, headers)
        else:
            with pytest.raises(WebhookVerificationError):
                Webhook(standard_secret(secret)).verify(body, headers)


async def test_a_whsec_secret_that_is_not_base64_fails_with_a_clear_error(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, fail_first(200)) as (receiver, _secret):
        await sql(url, "UPDATE booking_engine_config SET webhook_secret = 'whsec_not base64!'")
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, max_attempts=1, retry_for=0.0):

            async def failed() -> bool:
                rows = await sql(
                    url,
                    "SELECT error_message FROM booking_sync_status"
                    " WHERE booking_id = %s AND sync_status = 'failed'",
                    (booking,),
                )
                return bool(rows)

            await wait_for(failed)
    (error,) = await sql(
        url, "SELECT error_message FROM booking_sync_status WHERE booking_id = %s", (booking,)
    )
    assert error == ("hotel 1: webhook_secret starts with whsec_ but is not base64",)
    assert receiver.requests == []  # nothing unsigned was sent
