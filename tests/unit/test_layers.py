"""The layers read one way, checked on the source files themselves: the bridge never imports
the API, the API's services never import its routes, and only the CLI imports the wiring."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("bridge", "api", "metrics")
# The composition root: the one package of the bridge that builds the API too.
WIRING = "bridge.wiring"
# The CLI is the process's entry point: it reaches the wiring, and the API through it.
CLI = "bridge.cli"


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*packages: str) -> dict[str, Path]:
    return {
        _name(path): path for package in packages for path in sorted((ROOT / package).rglob("*.py"))
    }


def imports(name: str, path: Path) -> set[str]:
    """Every module the file imports, wherever the import statement stands (in a function,
    under TYPE_CHECKING), relative ones made absolute."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            found.add(module)
            # `from api import catalog` imports the module api.catalog.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def offenders(sources: dict[str, Path], *forbidden: str) -> dict[str, list[str]]:
    """The modules among `sources` that import one of `forbidden`, with what they import."""
    result = {}
    for name, path in sources.items():
        bad = sorted(m for m in imports(name, path) if any(_within(m, f) for f in forbidden))
        if bad:
            result[name] = bad
    return result


def test_the_scan_reads_the_real_tree() -> None:
    product = modules(*PRODUCT)
    assert {"bridge.pipeline", "api.app", "api.routes.common", "bridge.wiring.process"} <= set(
        product
    )
    assert "api.app" in imports("bridge.wiring.process", product["bridge.wiring.process"])
    assert "api.routes.common" in imports("api.routes.hotels", product["api.routes.hotels"])
    assert "bridge.wiring.commands" in imports(CLI, product[CLI])


def test_the_bridge_never_imports_the_api() -> None:
    bridge = {n: p for n, p in modules("bridge").items() if n != CLI and not _within(n, WIRING)}
    assert offenders(bridge, "api", WIRING) == {}
    assert offenders({CLI: modules("bridge")[CLI]}, "api") == {}


def test_metrics_import_neither_the_bridge_nor_the_api() -> None:
    assert offenders(modules("metrics"), "bridge", "api") == {}


def test_the_api_reads_the_bridge_through_its_status_only() -> None:
    """The bridge's live counters reach the API as bridge.live_status.BridgeStatus, never as
    the pipeline's Bridge."""
    assert offenders(modules("api"), "bridge.pipeline", WIRING) == {}


def test_api_services_never_import_routes() -> None:
    services = {
        n: p for n, p in modules("api").items() if not _within(n, "api.routes") and n != "api.app"
    }
    assert offenders(services, "api.routes") == {}


def test_only_the_cli_imports_the_wiring() -> None:
    outside = {n: p for n, p in modules(*PRODUCT).items() if not _within(n, WIRING) and n != CLI}
    assert offenders(outside, WIRING) == {}
