"""Prometheus rules and the Grafana dashboard (issue 9): rules unit-tested with promtool,
dashboard tables instant, filters by building and zone, empty panels showing 0, and every
name they query either exported by a service or recorded by the rules."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from cctv.devstack.stack import SERVICE_ORDER

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "campus-cctv.rules.yml"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool not installed (Debian package `prometheus`; .ci/run installs it)"


def dashboard() -> dict:
    [path] = sorted((ROOT / "deploy" / "k8s").rglob("campus-cctv-uptime.json"))
    return json.loads(path.read_text())


def exported() -> set[str]:
    for name in SERVICE_ORDER:
        importlib.import_module(f"services.{name}.app")
    return set(REGISTRY._names_to_collectors)


def recorded() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    assert PROMTOOL is not None
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = sorted(str(p) for p in (MONITORING / "tests").glob("*.test.yml"))
    assert len(tests) >= 2
    run = subprocess.run(
        [PROMTOOL, "test", "rules", *tests],
        capture_output=True, text=True, timeout=120, cwd=MONITORING / "tests",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_alerts_the_issue_asks_for_exist() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert {
        "CctvCameraDown",
        "CctvIngestOverloaded",
        "CctvConsumerLag",
        "CctvDeadLetters",
        "CctvOutboxBacklog",
    } <= alerts


def test_rules_query_only_exported_metrics() -> None:
    text = RULES.read_text()
    used = {m for m in re.findall(r"\bcctv_[a-z_]+", text)}
    assert used <= exported(), used - exported()


def test_dashboard_tables_and_stats_are_instant_and_show_zero() -> None:
    for panel in dashboard()["panels"]:
        if panel["type"] in ("table", "stat", "bargauge"):
            for t in panel["targets"]:
                assert t.get("instant") is True and t.get("range") is False, panel["title"]
        if panel["type"] == "stat":
            assert all("or vector(0)" in t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("noValue") == "0", panel["title"]


def test_dashboard_filters_by_building_and_zone_and_uses_recorded_uptime() -> None:
    dash = dashboard()
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"building", "zone"} <= names
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for e in exprs:
        if "cctv_camera_" in e or "cctv:camera" in e:
            assert "$building" in e, e
        assert "[30d]" not in e and "$__range" not in e, f"raw long-range scan: {e}"
    used = {m for e in exprs for m in re.findall(r"\bcctv:[a-z_0-9:]+", e)}
    assert used and used <= recorded(), used - recorded()


def test_a_failing_alert_channel_shows_on_the_dashboard_and_alerts() -> None:
    """Issue 10: a channel that keeps failing is itself visible on the dashboard."""
    gauge = "cctv_notify_channel_consecutive_failures"
    assert gauge in exported()
    panels = [p for p in dashboard()["panels"] if any(gauge in t["expr"] for t in p["targets"])]
    assert panels and all("channel" in t["expr"] for p in panels for t in p["targets"])
    groups = yaml.safe_load(RULES.read_text())["groups"]
    [rule] = [r for g in groups for r in g["rules"] if r.get("alert") == "CctvNotifyChannelFailing"]
    assert gauge in rule["expr"] and rule["labels"]["severity"] == "critical"
