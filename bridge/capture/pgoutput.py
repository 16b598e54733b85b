"""Decoder for the pgoutput logical replication protocol (versions 1 and 2) into typed messages.

Protocol 2 adds streamed in-progress transactions (Stream Start/Stop/Commit/Abort, and an xid
on every change sent inside a stream). The decoder understands them; the source buffers a
streamed transaction until its Stream Commit, because the bridge applies whole committed
transactions only. Values arrive in text format and are converted by type OID; a type the
decoder does not know (an enum, a domain announced by a Type message, ...) stays text.
An unchanged TOASTed value ('u') is left out of the row, so it reads as unknown, never as null.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from struct import Struct
from typing import Any

import msgspec

Convert = Callable[[bytes], Any]

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_I8 = Struct("!b")
_I16 = Struct("!h")
_I32 = Struct("!i")
_U32 = Struct("!I")
_I64 = Struct("!q")
_U64 = Struct("!Q")
_BEGIN = Struct("!QqI")
_COMMIT = Struct("!bQQq")
_STREAM_COMMIT = Struct("!IbQQq")
_MESSAGE = Struct("!bQ")
_COLUMN_TAIL = Struct("!Ii")


class ProtocolError(ValueError):
    """Bytes that are not a pgoutput message this decoder understands."""


# Messages -----------------------------------------------------------------------------------


class Column(msgspec.Struct, frozen=True, gc=False):
    name: str
    type_oid: int
    type_modifier: int
    key: bool


class Relation(msgspec.Struct, frozen=True, gc=False):
    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]
    xid: int | None = None


class Begin(msgspec.Struct, frozen=True, gc=False):
    final_lsn: int
    committed_at: datetime
    xid: int


class Commit(msgspec.Struct, frozen=True, gc=False):
    flags: int
    commit_lsn: int
    end_lsn: int
    committed_at: datetime


class Origin(msgspec.Struct, frozen=True, gc=False):
    commit_lsn: int
    name: str


class TypeInfo(msgspec.Struct, frozen=True, gc=False):
    oid: int
    namespace: str
    name: str
    xid: int | None = None


class Insert(msgspec.Struct, frozen=True, gc=False):
    relation: Relation
    new: dict[str, Any]
    xid: int | None = None


class Update(msgspec.Struct, frozen=True, gc=False):
    """`old_kind` is 'O' (whole old row, REPLICA IDENTITY FULL), 'K' (key only) or None."""

    relation: Relation
    old: dict[str, Any] | None
    old_kind: str | None
    new: dict[str, Any]
    xid: int | None = None


class Delete(msgspec.Struct, frozen=True, gc=False):
    relation: Relation
    old: dict[str, Any]
    old_kind: str
    xid: int | None = None


class Truncate(msgspec.Struct, frozen=True, gc=False):
    relations: tuple[Relation, ...]
    cascade: bool
    restart_identity: bool
    xid: int | None = None


class LogicalMessage(msgspec.Struct, frozen=True, gc=False):
    transactional: bool
    lsn: int
    prefix: str
    content: bytes
    xid: int | None = None


class StreamStart(msgspec.Struct, frozen=True, gc=False):
    xid: int
    first_segment: bool


class StreamStop(msgspec.Struct, frozen=True, gc=False):
    pass


class StreamCommit(msgspec.Struct, frozen=True, gc=False):
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    committed_at: datetime


class StreamAbort(msgspec.Struct, frozen=True, gc=False):
    xid: int
    subxid: int


Message = (
    Begin
    | Commit
    | Origin
    | Relation
    | TypeInfo
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
    | StreamStart
    | StreamStop
    | StreamCommit
    | StreamAbort
)
Change = Insert | Update | Delete | Truncate


# Values -------------------------------------------------------------------------------------


def pg_timestamp(micros: int) -> datetime:
    """A protocol timestamp (microseconds since 2000-01-01 UTC) as an aware datetime."""
    return PG_EPOCH + timedelta(microseconds=micros)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _text(raw: bytes) -> str:
    return raw.decode()


def _bool(raw: bytes) -> bool:
    return raw == b"t"


def _float(raw: bytes) -> float:
    return float(raw)


def _numeric(raw: bytes) -> Decimal:
    return Decimal(raw.decode())


def _json(raw: bytes) -> Any:
    return msgspec.json.decode(raw)


def _bytea(raw: bytes) -> bytes:
    if raw.startswith(b"\\x"):
        return bytes.fromhex(raw[2:].decode())
    raise ProtocolError("bytea in escape format; the server must use bytea_output = hex")


def _memo(convert: Convert, size: int = 8192) -> Convert:
    """Dates and reservation ids repeat across rows; parsing each once pays for the dict."""
    seen: dict[bytes, Any] = {}

    def cached(raw: bytes) -> Any:
        try:
            return seen[raw]
        except KeyError:
            if len(seen) >= size:
                seen.clear()
            value = seen[raw] = convert(raw)
            return value

    return cached


def _date(raw: bytes) -> date | str:
    try:
        return date.fromisoformat(raw.decode())
    except ValueError:
        return raw.decode()  # infinity, BC dates: no Python date for them


def _timestamp(raw: bytes) -> datetime | str:
    try:
        return datetime.fromisoformat(raw.decode())
    except ValueError:
        return raw.decode()


def _timestamptz(raw: bytes) -> datetime | str:
    text = raw.decode()
    # The server writes "+09" or "+05:30"; fromisoformat wants minutes.
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit():
        text += ":00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _time(raw: bytes) -> time | str:
    try:
        return time.fromisoformat(raw.decode())
    except ValueError:
        return raw.decode()


def _uuid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(raw.decode())


SCALARS: dict[int, Convert] = {
    16: _bool,
    17: _bytea,
    18: _text,
    19: _text,
    20: int,
    21: int,
    23: int,
    25: _text,
    26: int,
    114: _json,
    700: _float,
    701: _float,
    1042: _text,
    1043: _text,
    1082: _date,
    1083: _time,
    1114: _timestamp,
    1184: _timestamptz,
    1700: _numeric,
    2950: _uuid,
    3802: _json,
}
# Array type OID -> element type OID.
ARRAYS: dict[int, int] = {
    1000: 16,
    1001: 17,
    1002: 18,
    1003: 19,
    1005: 21,
    1007: 23,
    1016: 20,
    1028: 26,
    1009: 25,
    199: 114,
    1021: 700,
    1022: 701,
    1014: 1042,
    1015: 1043,
    1182: 1082,
    1183: 1083,
    1115: 1114,
    1185: 1184,
    1231: 1700,
    2951: 2950,
    3807: 3802,
}


def parse_array(raw: bytes, element: Convert) -> list[Any]:
    """PostgreSQL's array text format ({1,2}, {{a,"b c"},{NULL,d}}) as nested lists."""
    text = raw.decode()
    if text.startswith("["):
        # Explicit bounds ("[0:1]={1,2}"): the values are what the bridge needs.
        text = text[text.index("=") + 1 :]
    if not text.startswith("{"):
        raise ProtocolError(f"not an array literal: {text[:40]!r}")
    stack: list[list[Any]] = []
    result: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            new: list[Any] = []
            if stack:
                stack[-1].append(new)
            else:
                result = new
            stack.append(new)
            i += 1
        elif ch == "}":
            stack.pop()
            i += 1
        elif ch == ",":
            i += 1
        elif ch == '"':
            j = i + 1
            chars: list[str] = []
            while text[j] != '"':
                if text[j] == "\\":
                    j += 1
                chars.append(text[j])
                j += 1
            stack[-1].append(element("".join(chars).encode()))
            i = j + 1
        else:
            j = i
            while text[j] not in ",}":
                j += 1
            item = text[i:j]
            stack[-1].append(None if item == "NULL" else element(item.encode()))
            i = j
    return result


def converter(type_oid: int) -> Convert:
    """How a text-format value of this type becomes a Python value."""
    scalar = SCALARS.get(type_oid)
    if scalar is not None:
        if type_oid in (1082, 2950, 1114, 1184):
            return _memo(scalar)
        return scalar
    element_oid = ARRAYS.get(type_oid)
    if element_oid is not None:
        element = SCALARS[element_oid]
        return lambda raw: parse_array(raw, element)
    return _text


# Decoder ------------------------------------------------------------------------------------


class _Table(msgspec.Struct, gc=False):
    relation: Relation
    names: tuple[str, ...]
    converters: tuple[Convert, ...]


class Decoder:
    """Stateful: Relation messages fill the cache that later changes are decoded against."""

    def __init__(self) -> None:
        self.tables: dict[int, _Table] = {}
        self.streaming = False

    def decode(self, data: bytes) -> Message:
        kind = data[0]
        try:
            handler = self._handlers[kind]
        except KeyError:
            raise ProtocolError(f"unknown pgoutput message {chr(kind)!r}") from None
        try:
            return handler(self, data)
        except (IndexError, ValueError, struct.error) as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"malformed pgoutput message {chr(kind)!r}: {exc}") from exc

    def _xid(self, data: bytes) -> tuple[int | None, int]:
        if self.streaming:
            return _U32.unpack_from(data, 1)[0], 5
        return None, 1

    def _table(self, relid: int) -> _Table:
        try:
            return self.tables[relid]
        except KeyError:
            raise ProtocolError(
                f"change for relation {relid} before its Relation message"
            ) from None

    def _tuple(self, data: bytes, pos: int, table: _Table) -> tuple[dict[str, Any], int]:
        count = _I16.unpack_from(data, pos)[0]
        pos += 2
        names = table.names
        converters = table.converters
        if count > len(names):
            raise ProtocolError(f"{count} columns for {table.relation.name}, {len(names)} known")
        row: dict[str, Any] = {}
        unpack = _I32.unpack_from
        for i in range(count):
            kind = data[pos]
            pos += 1
            if kind == 116:  # 't'
                length = unpack(data, pos)[0]
                pos += 4
                row[names[i]] = converters[i](data[pos : pos + length])
                pos += length
            elif kind == 110:  # 'n'
                row[names[i]] = None
            elif kind == 117:  # 'u': unchanged TOAST, value not sent
                continue
            elif kind == 98:  # 'b'
                length = unpack(data, pos)[0]
                pos += 4
                row[names[i]] = bytes(data[pos : pos + length])
                pos += length
            else:
                raise ProtocolError(f"unknown tuple column kind {chr(kind)!r}")
        return row, pos

    def _begin(self, data: bytes) -> Begin:
        final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
        return Begin(final_lsn, pg_timestamp(ts), xid)

    def _commit(self, data: bytes) -> Commit:
        flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
        return Commit(flags, commit_lsn, end_lsn, pg_timestamp(ts))

    def _origin(self, data: bytes) -> Origin:
        lsn = _U64.unpack_from(data, 1)[0]
        name, _ = _cstring(data, 9)
        return Origin(lsn, name)

    def _relation(self, data: bytes) -> Relation:
        xid, pos = self._xid(data)
        relid = _U32.unpack_from(data, pos)[0]
        namespace, pos = _cstring(data, pos + 4)
        name, pos = _cstring(data, pos)
        identity = chr(data[pos])
        count = _I16.unpack_from(data, pos + 1)[0]
        pos += 3
        columns: list[Column] = []
        for _ in range(count):
            flags = data[pos]
            column, pos = _cstring(data, pos + 1)
            type_oid, modifier = _COLUMN_TAIL.unpack_from(data, pos)
            pos += 8
            columns.append(Column(column, type_oid, modifier, bool(flags & 1)))
        relation = Relation(relid, namespace or "pg_catalog", name, identity, tuple(columns), xid)
        self.tables[relid] = _Table(
            relation,
            tuple(c.name for c in columns),
            tuple(converter(c.type_oid) for c in columns),
        )
        return relation

    def _type(self, data: bytes) -> TypeInfo:
        xid, pos = self._xid(data)
        oid = _U32.unpack_from(data, pos)[0]
        namespace, pos = _cstring(data, pos + 4)
        name, pos = _cstring(data, pos)
        return TypeInfo(oid, namespace, name, xid)

    def _insert(self, data: bytes) -> Insert:
        xid, pos = self._xid(data)
        table = self._table(_U32.unpack_from(data, pos)[0])
        if data[pos + 4] != 78:  # 'N'
            raise ProtocolError("insert without a new tuple")
        new, _ = self._tuple(data, pos + 5, table)
        return Insert(table.relation, new, xid)

    def _update(self, data: bytes) -> Update:
        xid, pos = self._xid(data)
        table = self._table(_U32.unpack_from(data, pos)[0])
        pos += 4
        old: dict[str, Any] | None = None
        old_kind: str | None = None
        if data[pos] in (75, 79):  # 'K', 'O'
            old_kind = chr(data[pos])
            old, pos = self._tuple(data, pos + 1, table)
            if old_kind == "K":
                old = _key_only(old, table)
        if data[pos] != 78:
            raise ProtocolError("update without a new tuple")
        new, _ = self._tuple(data, pos + 1, table)
        return Update(table.relation, old, old_kind, new, xid)

    def _delete(self, data: bytes) -> Delete:
        xid, pos = self._xid(data)
        table = self._table(_U32.unpack_from(data, pos)[0])
        kind = data[pos + 4]
        if kind not in (75, 79):
            raise ProtocolError("delete without an old tuple")
        old, _ = self._tuple(data, pos + 5, table)
        if kind == 75:
            old = _key_only(old, table)
        return Delete(table.relation, old, chr(kind), xid)

    def _truncate(self, data: bytes) -> Truncate:
        xid, pos = self._xid(data)
        count = _I32.unpack_from(data, pos)[0]
        options = data[pos + 4]
        pos += 5
        relations = tuple(
            self._table(_U32.unpack_from(data, pos + 4 * i)[0]).relation for i in range(count)
        )
        return Truncate(relations, bool(options & 1), bool(options & 2), xid)

    def _message(self, data: bytes) -> LogicalMessage:
        xid, pos = self._xid(data)
        flags, lsn = _MESSAGE.unpack_from(data, pos)
        prefix, pos = _cstring(data, pos + 9)
        length = _I32.unpack_from(data, pos)[0]
        content = bytes(data[pos + 4 : pos + 4 + length])
        return LogicalMessage(bool(flags & 1), lsn, prefix, content, xid)

    def _stream_start(self, data: bytes) -> StreamStart:
        xid = _U32.unpack_from(data, 1)[0]
        self.streaming = True
        return StreamStart(xid, data[5] == 1)

    def _stream_stop(self, data: bytes) -> StreamStop:
        self.streaming = False
        return StreamStop()

    def _stream_commit(self, data: bytes) -> StreamCommit:
        xid, flags, commit_lsn, end_lsn, ts = _STREAM_COMMIT.unpack_from(data, 1)
        return StreamCommit(xid, flags, commit_lsn, end_lsn, pg_timestamp(ts))

    def _stream_abort(self, data: bytes) -> StreamAbort:
        xid, subxid = Struct("!II").unpack_from(data, 1)
        return StreamAbort(xid, subxid)

    _handlers: dict[int, Callable[[Decoder, bytes], Message]] = {
        ord("B"): _begin,
        ord("C"): _commit,
        ord("O"): _origin,
        ord("R"): _relation,
        ord("Y"): _type,
        ord("I"): _insert,
        ord("U"): _update,
        ord("D"): _delete,
        ord("T"): _truncate,
        ord("M"): _message,
        ord("S"): _stream_start,
        ord("E"): _stream_stop,
        ord("c"): _stream_commit,
        ord("A"): _stream_abort,
    }


def _key_only(row: dict[str, Any], table: _Table) -> dict[str, Any]:
    # A 'K' tuple sends the other columns as nulls; they are unknown, not null.
    return {c.name: row[c.name] for c in table.relation.columns if c.key and c.name in row}


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


# Streaming replication protocol framing (CopyData payloads) ---------------------------------

XLOG_DATA = Struct("!QQq")  # after 'w': data start, WAL end, send time
KEEPALIVE = Struct("!Qqb")  # after 'k': WAL end, send time, reply requested
STATUS = Struct("!cQQQqb")  # 'r', written, flushed, applied, client time, reply requested


def now_micros() -> int:
    return int((datetime.now(UTC) - PG_EPOCH) / timedelta(microseconds=1))


def standby_status(lsn: int, *, reply: bool = False) -> bytes:
    """A Standby Status Update reporting `lsn` as written, flushed and applied."""
    return STATUS.pack(b"r", lsn, lsn, lsn, now_micros(), 1 if reply else 0)
