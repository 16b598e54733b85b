"""Accept-Encoding as RFC 9110 has it: gzip only when listed (or *) without q=0."""

from __future__ import annotations

import gzip

import pytest

from api.encoding import MIN_GZIP_BYTES, Encoded, accepts_gzip


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP", True),
        ("br, gzip;q=1", True),
        ("gzip;q=0.5", True),
        ("*", True),
        ("", False),
        ("deflate", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip; q=0.000", False),
        ("br, gzip;q=0", False),
    ],
)
def test_accepts_gzip(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_only_answers_worth_it_are_compressed_and_the_same_answer_compresses_the_same() -> None:
    small = b'{"a": 1}'
    assert Encoded.of(small).gzip is None
    large = b'{"nights": [' + b'{"date": "2027-01-01", "available": 3},' * 100 + b"{}]}"
    assert len(large) >= MIN_GZIP_BYTES
    encoded = Encoded.of(large)
    assert encoded.gzip is not None and len(encoded.gzip) < len(large) // 4
    assert gzip.decompress(encoded.gzip) == large
    assert Encoded.of(large).gzip == encoded.gzip  # mtime=0: no timestamp in the bytes
