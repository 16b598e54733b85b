"""Reproducible benchmarks: each module measures one thing and reports figures with goals.

A benchmark is a module in this package exposing `async def run(args) -> dict` (or a plain
`def main(args) -> dict`), optionally `add_arguments(parser)` for its own flags (prefix them
with the module's name). The dict it returns holds at least `figures`: rows made with
`figure(...)`; anything else it returns is written to bench/results/<name>.json as is.
`python -m bench` runs them all, `python -m bench NAME ...` only those named.
"""

from __future__ import annotations

import os
from typing import Any


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    goal: str | None = None,
    met: bool | None = None,
    baseline: float | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One reported figure; `baseline` is a comparison value measured in the same run."""
    row: dict[str, Any] = {"name": name, "value": round(value, 3), "unit": unit}
    if baseline is not None:
        row["baseline"] = round(baseline, 3)
    if goal is not None:
        row["goal"] = goal
        row["met"] = met
    if note is not None:
        row["note"] = note
    return row


def machine_load() -> dict[str, Any]:
    """How busy the machine was: benchmarks on a shared machine must say so."""
    one, five, fifteen = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)]}
