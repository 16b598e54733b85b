"""Webhook signatures: HMAC-SHA256 over the exact body bytes with the hotel's shared secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-PMS-Signature"
EVENT_HEADER = "X-PMS-Event-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SCHEME = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=<hex digest>`."""
    return _SCHEME + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    if header is None or not header.startswith(_SCHEME):
        return False
    return hmac.compare_digest(sign(secret, body), header)
