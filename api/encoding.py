"""Memoized JSON answers kept in the encodings a client may accept: gzip is done once per answer,
and each encoding's response is built once and sent as often as it is asked for."""

from __future__ import annotations

import gzip

from litestar import MediaType
from litestar.response.base import ASGIResponse
from litestar.types import Scope

# Below this a compressed answer saves less than its headers cost.
MIN_GZIP_BYTES = 1024
VARY = {"vary": "Accept-Encoding"}
GZIPPED = {"content-encoding": "gzip", **VARY}


class Encoded:
    """An answer's JSON, its gzip when worth it, and the response that sends each. A response
    sends the same bytes every time it is called, so one instance serves every caller."""

    __slots__ = ("_plain", "_zipped", "gzip", "json")

    def __init__(self, json: bytes, gzip: bytes | None) -> None:
        self.json = json
        self.gzip = gzip
        self._plain = ASGIResponse(body=json, media_type=MediaType.JSON, headers=VARY)
        self._zipped = (
            None
            if gzip is None
            else ASGIResponse(body=gzip, media_type=MediaType.JSON, headers=GZIPPED)
        )

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        """A 30-night availability answer is ~13 KB of JSON and ~1.5 KB gzipped; a memoized
        answer is sent thousands of times, so it is compressed once, here (mtime=0 keeps the
        bytes the same for the same answer)."""
        small = len(body) < MIN_GZIP_BYTES
        return cls(body, None if small else gzip.compress(body, compresslevel=6, mtime=0))

    def response(self, scope: Scope) -> ASGIResponse:
        """The response in the encoding the call accepts."""
        if self._zipped is not None and accepts_gzip(accept_encoding(scope)):
            return self._zipped
        return self._plain


def accept_encoding(scope: Scope) -> str:
    """The call's (first) Accept-Encoding header, read from the raw ASGI headers: building
    the request's header mapping for it cost more than the rest of a memoized answer."""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return value.decode("latin-1")
    return ""


def accepts_gzip(header: str) -> bool:
    """RFC 9110 Accept-Encoding: gzip (or *) listed without q=0."""
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().lower().removeprefix("q=").strip()
        return not (params.strip() and weight.replace("0", "").replace(".", "") == "")
    return False
