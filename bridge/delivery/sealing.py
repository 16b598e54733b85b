"""Webhook secrets sealed at rest: AES-256-GCM under BRIDGE_SECRET_KEY, bound to their hotel.

The bridge must hold each hotel's secret in the clear to sign, so sealing protects it from
whoever reads the database without the bridge's environment (a backup, a replica, another
role's SELECT). A sealed value is `sealed:v1:` and the URL-safe base64 of a 12-byte nonce and
the ciphertext; the hotel id is authenticated with it, so a sealed secret copied into another
hotel's row does not open. A value without the prefix is a plain secret and is used as is.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
KEY_BYTES = 32
_NONCE_BYTES = 12


class SealError(Exception):
    """A sealed secret that cannot be opened; the message says what to fix."""


def parse_key(text: str) -> bytes | None:
    """BRIDGE_SECRET_KEY's 32 bytes, from 64 hex digits or base64; None when it is neither."""
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if len(text) == 2 * KEY_BYTES
            else base64.b64decode(text, validate=True)
        )
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == KEY_BYTES else None


def _bound(hotel_id: int) -> bytes:
    return f"booking_engine_config.webhook_secret:{hotel_id}".encode()


def seal(key: bytes, hotel_id: int, secret: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _bound(hotel_id))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def unseal(key: bytes | None, hotel_id: int, value: str) -> str:
    """The secret a stored value holds: a plain one as it is, a sealed one opened."""
    if not is_sealed(value):
        return value
    if key is None:
        raise SealError("the secret is sealed and BRIDGE_SECRET_KEY is not set")
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
        opened = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound(hotel_id))
    except (ValueError, binascii.Error, InvalidTag):
        raise SealError("the sealed secret does not open with BRIDGE_SECRET_KEY") from None
    return opened.decode()
