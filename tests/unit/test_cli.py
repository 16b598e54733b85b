"""The command line tells what it is: a version, and a description on every command's --help."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator

from bridge.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from commands(child, (*path, name))


def test_every_command_has_a_description_in_its_help() -> None:
    found = dict(commands(build_parser()))
    assert {("run",), ("demo",), ("keys", "create"), ("slot", "drop")} <= set(found)
    for path, parser in found.items():
        assert parser.description, f"pms-bridge {' '.join(path)} has no description"
        # The first words of the description, as --help prints them (rewrapped).
        opening = " ".join(parser.description.split()[:4])
        assert opening in " ".join(parser.format_help().split()), path


def test_version_is_the_installed_distributions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"pms-bridge {importlib.metadata.version('pms-bridge')}"
