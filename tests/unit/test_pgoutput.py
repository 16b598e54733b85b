"""The pgoutput decoder on bytes captured from a real PostgreSQL 18 (tests/unit/data)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.capture.logical import LogicalSource
from bridge.capture.pgoutput import (
    KEEPALIVE,
    STATUS,
    Begin,
    Commit,
    Decoder,
    Delete,
    Insert,
    LogicalMessage,
    Message,
    ProtocolError,
    Relation,
    StreamAbort,
    StreamCommit,
    StreamStart,
    Truncate,
    TypeInfo,
    Update,
    format_lsn,
    parse_array,
    parse_lsn,
    standby_status,
)
from bridge.config import Settings

# Captured by running, on a fresh database with a publication over kinds, keyed and parted
# (publish_via_partition_root), the statements the tests below name, then reading the slot
# with pg_logical_slot_peek_binary_changes (protocol 1; protocol 2 with streaming on and
# logical_decoding_work_mem = 64kB for "streamed").
CAPTURED = json.loads((Path(__file__).parent / "data" / "pgoutput_messages.json").read_text())


def decode_all(key: str) -> list[Message]:
    decoder = Decoder()
    return [decoder.decode(bytes.fromhex(h)) for h in CAPTURED[key]]


def changes(messages: list[Message], table: str) -> list[Insert | Update | Delete]:
    return [
        m for m in messages if isinstance(m, (Insert, Update, Delete)) and m.relation.name == table
    ]


def test_every_text_value_is_converted_by_its_type() -> None:
    insert = changes(decode_all("plain"), "kinds")[0]
    assert isinstance(insert, Insert)
    row = insert.new
    tokyo = timezone(timedelta(hours=9))
    assert {k: v for k, v in row.items() if k != "big"} == {
        "id": 1,
        "i2": -2,
        "i8": 9_000_000_000,
        "n": Decimal("12.50"),
        "b": True,
        "d": date(2026, 3, 1),
        "ts": datetime(2026, 3, 1, 10, 11, 12, 500000),
        "tstz": datetime(2026, 3, 1, 10, 11, 12, tzinfo=tokyo),
        "u": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        "t": "héllo",
        "v": "short",
        "j": {"a": [1, 2]},
        "jb": {"b": None},
        "ia": [1, None, 3],
        "ta": ["x y", 'q"uote', None, "plain"],
        "m": "busy",
        "f8": 1.5,
    }
    assert isinstance(row["big"], str) and len(row["big"]) == 12_800


def test_nulls_are_none_and_every_column_is_present() -> None:
    second = changes(decode_all("plain"), "kinds")[1]
    assert isinstance(second, Insert)
    assert second.new["id"] == 2
    assert len(second.new) == 18
    assert all(v is None for k, v in second.new.items() if k != "id")


def test_unchanged_toast_is_absent_not_null_and_the_full_old_row_has_it() -> None:
    update = changes(decode_all("plain"), "kinds")[2]
    assert isinstance(update, Update)
    assert "big" not in update.new
    assert update.new["t"] == "changed"
    assert update.old_kind == "O"
    assert update.old is not None and update.old["t"] == "héllo"
    assert len(update.old["big"]) == 12_800


def test_key_only_old_rows_carry_just_the_key() -> None:
    keyed = changes(decode_all("plain"), "keyed")
    plain_update, key_update, delete = keyed[1], keyed[2], keyed[3]
    assert isinstance(plain_update, Update) and plain_update.old is None
    assert plain_update.old_kind is None
    assert isinstance(key_update, Update)
    assert key_update.old_kind == "K" and key_update.old == {"id": 1}
    assert key_update.new == {"id": 10, "note": "uno"}
    assert isinstance(delete, Delete)
    assert delete.old_kind == "K" and delete.old == {"id": 10}


def test_a_relation_message_after_add_column_refreshes_the_columns() -> None:
    keyed = changes(decode_all("plain"), "keyed")
    assert keyed[0].new == {"id": 1, "note": "one"}  # type: ignore[union-attr]
    last = keyed[-1]
    assert isinstance(last, Insert)
    assert last.new == {"id": 2, "note": "two", "extra": 7}


def test_partition_changes_are_named_after_the_root() -> None:
    parted = changes(decode_all("plain"), "parted")
    assert [type(c) for c in parted] == [Insert]
    assert parted[0].new == {"hotel_id": 1, "id": 1, "room_id": 101}  # type: ignore[union-attr]
    assert changes(decode_all("plain"), "parted_1") == []


def test_type_message_truncate_and_logical_message() -> None:
    messages = decode_all("plain")
    types = [m for m in messages if isinstance(m, TypeInfo)]
    assert [(t.namespace, t.name) for t in types] == [("public", "mood")]
    truncates = [m for m in messages if isinstance(m, Truncate)]
    assert [[r.name for r in t.relations] for t in truncates] == [["keyed"]]
    assert not truncates[0].cascade and not truncates[0].restart_identity
    notes = [m for m in messages if isinstance(m, LogicalMessage)]
    assert [(n.transactional, n.prefix, n.content) for n in notes] == [(True, "pms", b"hello")]


def test_begin_and_commit_frame_every_transaction_in_order() -> None:
    messages = decode_all("plain")
    begins = [m for m in messages if isinstance(m, Begin)]
    commits = [m for m in messages if isinstance(m, Commit)]
    assert len(begins) == len(commits) == 12
    for begin, commit in zip(begins, commits, strict=True):
        assert begin.final_lsn == commit.commit_lsn < commit.end_lsn
        assert begin.committed_at == commit.committed_at
        assert begin.committed_at.tzinfo is UTC
    assert [c.end_lsn for c in commits] == sorted(c.end_lsn for c in commits)


def test_streamed_transactions_carry_their_xid_and_end_in_commit_or_abort() -> None:
    messages = decode_all("streamed")
    starts = [m for m in messages if isinstance(m, StreamStart)]
    assert {s.xid for s in starts if s.first_segment} == {s.xid for s in starts}
    aborts = [m for m in messages if isinstance(m, StreamAbort)]
    commits = [m for m in messages if isinstance(m, StreamCommit)]
    assert len(commits) == 2 and len(aborts) == 1
    assert aborts[0].xid == commits[0].xid != aborts[0].subxid
    streamed_inserts = [m for m in messages if isinstance(m, Insert)]
    assert streamed_inserts and all(i.xid is not None for i in streamed_inserts)


def source() -> LogicalSource:
    return LogicalSource("postgresql://unused", Settings(capture="logical"))


def test_the_source_assembles_streamed_transactions_without_the_aborted_savepoint() -> None:
    logical = source()
    for hexed in CAPTURED["streamed"]:
        logical._handle(bytes.fromhex(hexed))
    batch = logical._take()
    ids = [c.new["id"] for c in batch.changes if c.new is not None]
    # First transaction: 100-699 and 3000-3599 (2000-2599 rolled back to its savepoint);
    # second: 5000-5999. The rolled-back transaction never appears.
    assert ids == [*range(100, 700), *range(3000, 3600), *range(5000, 6000)]
    assert {c.table for c in batch.changes} == {"parted"}
    assert all(c.op == "insert" for c in batch.changes)
    commits = [m for m in decode_all("streamed") if isinstance(m, StreamCommit)]
    assert batch.position == commits[-1].end_lsn
    assert [c.position for c in batch.changes[:1] + batch.changes[-1:]] == [
        commits[0].commit_lsn,
        commits[1].commit_lsn,
    ]


def test_the_source_drops_transactions_at_or_before_the_checkpoint() -> None:
    logical = source()
    commits = [m for m in decode_all("plain") if isinstance(m, Commit)]
    # After the key update and delete of `keyed` (transactions 7 and 8).
    logical.checkpoint = commits[7].end_lsn
    for hexed in CAPTURED["plain"]:
        logical._handle(bytes.fromhex(hexed))
    batch = logical._take()
    assert {c.position for c in batch.changes} <= {c.commit_lsn for c in commits[8:]}
    assert [c.table for c in batch.changes] == ["parted", "keyed", "keyed"]
    assert [c.op for c in batch.changes] == ["insert", "insert", "truncate"]
    assert batch.position == commits[-1].end_lsn


def test_the_source_fills_unchanged_toast_from_the_full_old_row() -> None:
    logical = source()
    logical._keys = {"kinds": ("id",)}  # read from the catalog by open()
    for hexed in CAPTURED["plain"]:
        logical._handle(bytes.fromhex(hexed))
    update = next(c for c in logical._take().changes if c.table == "kinds" and c.op == "update")
    assert update.new is not None and update.old is not None
    assert update.new["big"] == update.old["big"]
    assert update.new["t"] == "changed"
    assert update.pk == {"id": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ("{1,2,3}", [1, 2, 3]),
        ("{{1,2},{NULL,4}}", [[1, 2], [None, 4]]),
        ("[0:1]={5,6}", [5, 6]),
    ],
)
def test_integer_arrays(text: str, expected: list[Any]) -> None:
    assert parse_array(text.encode(), int) == expected


def test_text_arrays_unquote_and_unescape() -> None:
    raw = b'{"a,b","back\\\\slash","q\\"",NULL,"NULL",plain}'
    assert parse_array(raw, bytes.decode) == ["a,b", "back\\slash", 'q"', None, "NULL", "plain"]


def test_bad_bytes_raise_a_protocol_error() -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="unknown pgoutput message"):
        decoder.decode(b"Z\x00")
    with pytest.raises(ProtocolError, match="malformed"):
        decoder.decode(b"B\x00\x01")
    with pytest.raises(ProtocolError, match="before its Relation"):
        decoder.decode(b"I\x00\x00\x00\x07N\x00\x00")


def test_lsn_text_round_trip_and_status_frame() -> None:
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("0/1D818D8")) == "0/1D818D8"
    frame = standby_status(1234, reply=True)
    kind, written, flushed, applied, _clock, reply = STATUS.unpack(frame)
    assert (kind, written, flushed, applied, reply) == (b"r", 1234, 1234, 1234, 1)
    assert KEEPALIVE.size == 17


def test_relation_message_lists_key_columns() -> None:
    relations = {m.name: m for m in decode_all("plain") if isinstance(m, Relation)}
    assert relations["kinds"].replica_identity == "f"
    assert all(c.key for c in relations["kinds"].columns)
    assert [c.name for c in relations["keyed"].columns if c.key] == ["id"]
