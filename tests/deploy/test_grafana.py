"""The Grafana dashboard only queries metrics that the services really export."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

from cctv.devstack.stack import SERVICE_ORDER

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
DASHBOARD = K8S / "components" / "monitoring" / "grafana" / "campus-cctv-uptime.json"


def exported_metric_names() -> set[str]:
    for name in SERVICE_ORDER:
        importlib.import_module(f"services.{name}.app")
    return set(REGISTRY._names_to_collectors)  # the registry's own index of names


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bcctv_[a-z_]+", e)}
    assert "cctv_camera_up" in used
    assert used <= exported_metric_names(), used - exported_metric_names()


def test_dashboard_ships_with_the_production_overlay() -> None:
    from .k8s import render

    [cm] = [
        d
        for d in render("production")
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "campus-cctv-grafana-dashboard"
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["campus-cctv-uptime.json"]) == json.loads(DASHBOARD.read_text())
