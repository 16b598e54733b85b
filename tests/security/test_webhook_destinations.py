"""Webhook destinations: https to public addresses only, checked on the address connected to;
what a destination answers is never stored, logged or shown to the hotel."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.delivery import destination
from bridge.delivery.destination import CheckedTransport, DestinationRefused, refusal
from bridge.delivery.receiver import Received
from bridge.delivery.worker import DeliveryWorker
from bridge.sql import migrations
from tests.support.api_server import create_key, running_api
from tests.support.delivery import book, configure, receiving, sql, sync_row, wait_for
from tests.support.pipeline import run_once

P = "/api/booking-engine"


@asynccontextmanager
async def delivering(url: str, *, allow_loopback_http: bool) -> AsyncIterator[DeliveryWorker]:
    worker = DeliveryWorker(
        url,
        base_delay=0.05,
        max_delay=0.2,
        poll_interval=0.1,
        max_attempts=2,
        retry_for=0.0,
        allow_loopback_http=allow_loopback_http,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def failed(url: str, booking: uuid.UUID) -> None:
    async def check() -> bool:
        return bool((await sync_row(url, booking))[0] == "failed")

    await wait_for(check)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback address"),
        ("::1", "loopback address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("10.1.2.3", "private address"),
        ("192.168.0.10", "private address"),
        ("172.16.5.4", "private address"),
        ("169.254.169.254", "link-local address (cloud metadata)"),
        ("fe80::1", "link-local address (cloud metadata)"),
        ("fd00:ec2::254", "private address"),
        ("100.100.100.200", "non-public address"),
        ("0.0.0.0", "private address"),
        ("224.0.0.1", "non-public address"),
        ("93.184.216.34", None),
        ("2606:4700::6810:84e5", None),
    ],
)
def test_only_public_addresses_are_delivered_to(address: str, why: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), loopback_only=False) == why


async def test_a_loopback_destination_is_refused_and_never_contacted(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, lambda _r, _s: 200) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, allow_loopback_http=False):
            await failed(url, booking)
    assert receiver.requests == []
    status, _retries, error, _engine, _attempted = await sync_row(url, booking)
    assert status == "failed" and error == "refused destination: plain http is refused; use https"


@pytest.mark.parametrize(
    ("target", "error"),
    [
        # https to a name that resolves to loopback: the resolved address is what is judged.
        ("https://localhost:{port}/webhook", "loopback address"),
        ("https://127.0.0.1:{port}/webhook", "loopback address"),
        # Plain http, even where allowed, goes to loopback only.
        ("http://93.184.216.34:{port}/webhook", "plain http goes to loopback addresses only"),
        ("ftp://127.0.0.1:{port}/webhook", "only https URLs are delivered to"),
    ],
)
async def test_the_transport_refuses_before_connecting(target: str, error: str) -> None:
    connected: list[bool] = []

    async def count(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(True)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = CheckedTransport(allow_loopback_http=True, max_connections=2)
    try:
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            with pytest.raises(DestinationRefused, match=error.replace("(", r"\(")):
                await client.post(target.format(port=port), content=b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert connected == []


async def test_an_answer_body_is_never_stored_logged_or_shown(
    settings: Settings, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = settings.database_url
    assert url is not None

    def refuse(_request: Received, _seen: int) -> int:
        return 500  # the receiver answers {"error": "scripted failure"}

    caplog.set_level(logging.DEBUG)
    async with receiving(url, refuse) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, allow_loopback_http=True):
            await failed(url, booking)
    assert len(receiver.requests) == 2
    status, _retries, error, _engine, _attempted = await sync_row(url, booking)
    assert (status, error) == ("failed", "HTTP 500")
    assert "scripted failure" not in caplog.text
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        shown = await http.get(f"{P}/bookings/{booking}")
    assert shown.status_code == 200
    assert "HTTP 500" in shown.text and "scripted failure" not in shown.text


async def test_a_redirect_is_not_followed(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, lambda _r, _s: 307) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, allow_loopback_http=True):
            await failed(url, booking)
    assert len(receiver.requests) == 1
    assert (await sync_row(url, booking))[2] == "HTTP 307"


async def test_plain_http_to_a_public_host_is_refused_even_where_loopback_http_is_allowed(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    await configure(url, "http://93.184.216.34/webhook", hotel_id=2)
    booking = await book(url, hotel_id=2)
    await run_once(settings, MemoryCache())
    async with delivering(url, allow_loopback_http=True):
        await failed(url, booking)
    error = (await sync_row(url, booking))[2]
    assert error == "refused destination: plain http goes to loopback addresses only"


async def test_answers_stored_before_the_upgrade_are_scrubbed(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    booking = await book(url)
    await run_once(settings, MemoryCache())
    scrub = next(m for m in migrations("bridge") if m.name == "webhook_errors_without_answers")
    for stored, kept in (
        ('HTTP 500: {"admin_token": "internal"}', "HTTP 500"),
        ("ConnectError: [Errno 111] connect to 10.0.0.5 refused", "ConnectError"),
        ("timeout after 10s", "timeout after 10s"),
    ):
        await sql(
            url,
            "UPDATE booking_sync_status SET error_message = %s WHERE booking_id = %s",
            (stored, booking),
        )
        await sql(url, scrub.sql)
        assert (await sync_row(url, booking))[2] == kept


async def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name is resolved once, checked, and that address connected to: a second lookup
    (where DNS rebinding would answer differently) never happens. The name here exists only
    in the checked answer, so a request that arrives proves the checked address was used."""
    answers = {"engine.rebind.invalid": [ipaddress.ip_address("127.0.0.1")]}

    async def resolve(host: str, _port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return list(answers[host])

    monkeypatch.setattr(destination, "resolve", resolve)
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = CheckedTransport(allow_loopback_http=True, max_connections=2)
    try:
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            reply = await client.post(f"http://engine.rebind.invalid:{port}/hook", content=b"{}")
            assert reply.status_code == 204
            assert b"host: engine.rebind.invalid" in seen[0].lower()
            # A name answering with a public and a private address is refused outright.
            answers["mixed.rebind.invalid"] = [
                ipaddress.ip_address("93.184.216.34"),
                ipaddress.ip_address("10.0.0.5"),
            ]
            with pytest.raises(DestinationRefused, match="private address"):
                await client.post("https://mixed.rebind.invalid/hook", content=b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert len(seen) == 1
