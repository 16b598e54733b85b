"""Memoized JSON answers kept in the encodings a client may accept: gzip is done once per answer."""

from __future__ import annotations

import gzip
from typing import Any

import msgspec
from litestar import MediaType, Request, Response

# Below this a compressed answer saves less than its headers cost.
MIN_GZIP_BYTES = 1024
VARY = {"vary": "Accept-Encoding"}
GZIPPED = {"content-encoding": "gzip", **VARY}


class Encoded(msgspec.Struct, frozen=True):
    json: bytes
    gzip: bytes | None

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        """A 30-night availability answer is ~13 KB of JSON and ~1.5 KB gzipped; a memoized
        answer is sent thousands of times, so it is compressed once, here (mtime=0 keeps the
        bytes the same for the same answer)."""
        small = len(body) < MIN_GZIP_BYTES
        return cls(body, None if small else gzip.compress(body, compresslevel=6, mtime=0))


def accepts_gzip(header: str) -> bool:
    """RFC 9110 Accept-Encoding: gzip (or *) listed without q=0."""
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().lower().removeprefix("q=").strip()
        return not (params.strip() and weight.replace("0", "").replace(".", "") == "")
    return False


def respond(request: Request[Any, Any, Any], answer: Encoded) -> Response[bytes]:
    if answer.gzip is not None and accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(answer.gzip, media_type=MediaType.JSON, headers=GZIPPED)
    return Response(answer.json, media_type=MediaType.JSON, headers=VARY)
