"""`python -m bench [NAME ...]`: runs the benchmarks, writes results/NAME.json, prints a table."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import pkgutil
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import bench
from bench import machine_load

RESULTS = Path(__file__).resolve().parent / "results"


def discover() -> dict[str, ModuleType]:
    """Every module of the package that exposes run() or main()."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)) or callable(getattr(module, "main", None)):
            found[info.name] = module
    return found


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(modules)}")
    parser.add_argument("--quick", action="store_true", help="smaller volumes, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    for module in modules.values():
        add = getattr(module, "add_arguments", None)
        if callable(add):
            add(parser)
    return parser


def execute(module: ModuleType, args: argparse.Namespace) -> dict[str, Any]:
    run = getattr(module, "run", None)
    if run is not None and inspect.iscoroutinefunction(run):
        result: dict[str, Any] = asyncio.run(run(args))
    elif run is not None:
        result = run(args)
    else:
        result = module.main(args)
    return result


def table(name: str, figures: list[dict[str, Any]]) -> str:
    lines = [f"== {name}"]
    width = max((len(f["name"]) for f in figures), default=10)
    for f in figures:
        baseline = f" (baseline {f['baseline']:g})" if "baseline" in f else ""
        goal = ""
        if "goal" in f:
            goal = f"  goal {f['goal']}: {'met' if f['met'] else 'NOT met'}"
        lines.append(f"  {f['name']:<{width}}  {f['value']:>12g} {f['unit']}{baseline}{goal}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    modules = discover()
    args = build_parser(modules).parse_args(argv)
    unknown = [n for n in args.names if n not in modules]
    if unknown:
        print(
            f"bench: no benchmark named {', '.join(unknown)}; have {', '.join(modules)}",
            file=sys.stderr,
        )
        return 2
    selected = args.names or list(modules)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    failed = 0
    for name in selected:
        started = time.monotonic()
        load_before = machine_load()
        try:
            result = execute(modules[name], args)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"== {name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        record = {
            "benchmark": name,
            "command": command.strip(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 1),
            "python": platform.python_version(),
            "machine": {"before": load_before, "after": machine_load()},
            **result,
        }
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(table(name, result.get("figures", [])), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
