"""Recovery figures of the fault suite: `python -m bench faults [--fault-outage SECONDS]`.

Runs tests/integration/faults (each fault under a PMS write load, each checked to lose nothing) and
reports what they measured: seconds from a fault's end until the bridge applies changes
again, and the events per second delivered while a webhook's backlog drains.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults")
    group.add_argument(
        "--fault-outage",
        type=float,
        default=600.0,
        help="seconds the webhook stays down in the backlog fault (default 600)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        figures_file = Path(scratch) / "figures.jsonl"
        env = {
            **os.environ,
            "PMS_BRIDGE_FAULT_FIGURES": str(figures_file),
            "PMS_BRIDGE_FAULT_OUTAGE": f"{args.fault_outage:g}",
        }
        tests = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/integration/faults",
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if tests.returncode != 0:
            raise RuntimeError("the fault suite failed: its figures would not be of a sound run")
        lines = figures_file.read_text().splitlines() if figures_file.exists() else []
    figures: list[dict[str, Any]] = []
    for line in lines:
        record = json.loads(line)
        fault, capture = record.pop("fault"), record.pop("capture")
        for key, value in record.items():
            figures.append(
                {
                    "name": f"{fault} [{capture}] {key}",
                    "value": value,
                    "unit": "events/s" if key == "events_per_s" else "s",
                }
            )
    return {"figures": figures}
