"""The alert rules and the Grafana dashboard that ship in `deploy/`: promtool checks the rules
and runs their unit tests (Debian's `prometheus` package has promtool: installed here when
missing, as bin/test installs Chromium; never skipped), and every metric either names is one
paywire exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import paywire.metrics  # noqa: F401  (registers paywire's metrics)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bpaywire_[a-z0-9_]+")


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        done = subprocess.run([*sudo, *command], capture_output=True, text=True, env=env, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"promtool is missing and `{' '.join(command)}` failed:\n{done.stderr[-2000:]}", pytrace=False)
    found = shutil.which("promtool")
    if not found:
        pytest.fail("Debian's prometheus package installed, but promtool is not on PATH", pytrace=False)
    return found


def run(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    assert "SUCCESS" in run("check", "rules", RULES.name)
    assert "SUCCESS" in run("test", "rules", "alerts_test.yml")


def exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")  # a labelled counter has no sample before its first label
        names.update(sample.name for sample in family.samples)
    return {n for n in names if n.startswith("paywire_")}


def test_the_rules_and_the_dashboard_use_metrics_paywire_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "paywire.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set(METRIC.findall(RULES.read_text())) | {m for expr in exprs for m in METRIC.findall(expr)}
    assert used and used <= exported(), sorted(used - exported())
    assert {"PaywirePaymentSuccessLow", "PaywirePaymentSuccessCritical", "PaywireWebhookDeadLetters"} <= set(
        re.findall(r"alert: (\w+)", RULES.read_text())
    )
