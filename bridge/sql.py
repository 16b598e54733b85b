"""Finds the project's .sql files and loads named query blocks, numbered migrations and
repeatable function files once."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import LiteralString

import msgspec

_NAME = re.compile(r"^-- name: (\S+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{3})_(\w+)\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


class Functions(msgspec.Struct, frozen=True):
    """A file of function definitions, applied whole whenever its text changes."""

    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"functions/{self.name}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_root() -> Path:
    """`sql/` beside the packages in a checkout, or inside the package in an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sql", here.parent / "sql"):
        if (candidate / "queries").is_dir():
            return candidate
    raise FileNotFoundError(f"no sql/ directory next to {here}")


def parse_queries(text: str, source: str) -> dict[str, str]:
    """Named blocks without their whole-line comments: those are for readers of the .sql
    file, and sent with every execution they would push long statements past the size
    psycopg caches the parsing of (4 KB), so each execution would parse the text again."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {source}")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip()
    return queries


@cache
def queries() -> dict[str, str]:
    loaded: dict[str, str] = {}
    for path in sorted((sql_root() / "queries").glob("*.sql")):
        for name, body in parse_queries(path.read_text(), path.name).items():
            if name in loaded:
                raise ValueError(f"query {name!r} in {path.name} is already defined elsewhere")
            loaded[name] = body
    return loaded


def query(name: str) -> LiteralString:
    """A named query block; the text is ours (from sql/), never built from input."""
    return queries()[name]


def migrations(folder: str) -> list[Migration]:
    found = []
    for path in sorted((sql_root() / folder).glob("*.sql")):
        match = _MIGRATION.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations in sql/{folder} share a number: {versions}")
    return found


def function_files(folder: str) -> list[Functions]:
    """sql/<folder>/functions/*.sql, by name."""
    return [
        Functions(path.stem, path.read_text())
        for path in sorted((sql_root() / folder / "functions").glob("*.sql"))
    ]
