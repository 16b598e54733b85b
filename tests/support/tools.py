"""Machine tools some tests need (Debian's prometheus, promtool, chromium), found or skipped."""

from __future__ import annotations

import os
import shutil

import pytest


def tool(name: str) -> str:
    """The path of `name`. Missing, the test is skipped on a developer's machine and fails
    under CI=true, where .ci/run installs it: a skipped check must not pass for a run one."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install prometheus chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found
