"""Every alert rule has a passing `promtool test rules` case that sees it fire."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.tools import tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "metrics/alerts.yml"
TESTS = ROOT / "metrics/alerts.test.yml"


def test_promtool_checks_the_rules_and_passes_their_unit_tests() -> None:
    promtool = tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", str(TESTS)], capture_output=True, text=True, cwd=ROOT
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_is_tested_firing_and_quiet() -> None:
    rules = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert rules - firing == set(), "rules no test sees firing"
    assert rules - quiet == set(), "rules no test sees quiet"
    assert {"PmsBridgeDeliveriesFailing", "PmsBridgeTargetDown"} <= rules
