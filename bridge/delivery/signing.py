"""Webhook signatures: Standard Webhooks headers and the older X-PMS-Signature, per hotel.

A stored secret is either in the Standard Webhooks form, `whsec_` + base64 of the key, or any
other text, whose UTF-8 bytes are the key (the random hex secrets migration 010 gives every
hotel). Either way the receiver's library takes `standard_secret(stored)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Kept beside the Standard Webhooks headers for receivers written before them.
LEGACY_SIGNATURE_HEADER = "X-PMS-Signature"
EVENT_HEADER = "X-PMS-Event-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SECRET_PREFIX = "whsec_"
# What the standardwebhooks libraries accept between the timestamp and their clock, both ways.
TOLERANCE_SECONDS = 300
_SCHEME = "sha256="
_VERSION = "v1,"


def key_of(secret: str) -> bytes:
    """The HMAC key a stored secret stands for; ValueError for a `whsec_` secret that is not
    base64."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("webhook_secret starts with whsec_ but is not base64") from None
        if not key:
            raise ValueError("webhook_secret is whsec_ with no key")
        return key
    return secret.encode()


def standard_secret(secret: str) -> str:
    """The secret as a Standard Webhooks library takes it: `whsec_` + base64 of the key."""
    return SECRET_PREFIX + base64.b64encode(key_of(secret)).decode()


def _standard(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return _VERSION + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def standard_headers(
    secrets: Sequence[str], event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature`, one `v1,` signature per
    active secret (two while a secret is being rotated), space separated."""
    signatures = " ".join(_standard(key_of(s), event_id, timestamp, body) for s in secrets)
    return {ID_HEADER: event_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signatures}


def verify_standard(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """What a Standard Webhooks receiver does: the timestamp within the tolerance of `now`,
    and one of the signatures made with `secret`, compared in constant time. `headers` are
    keyed in lower case."""
    event_id = headers.get(ID_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER)
    if not event_id or not given or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    try:
        expected = _standard(key_of(secret), event_id, int(stamp), body).encode()
    except ValueError:
        return False
    return any(hmac.compare_digest(expected, one.encode()) for one in given.split(" "))


def sign(secret: str, body: bytes) -> str:
    """The X-PMS-Signature value: `sha256=<hex HMAC-SHA256 of the body>`, with the same key."""
    return _SCHEME + hmac.new(key_of(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """X-PMS-Signature as a receiver checks it: recompute and compare in constant time."""
    if header is None or not header.startswith(_SCHEME):
        return False
    try:
        return hmac.compare_digest(sign(secret, body), header)
    except ValueError:
        return False
