"""The Kubernetes manifests validate offline and run every service the way `make run` does."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cctv.devstack.stack import SERVICE_ORDER

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
CUSTOM = {"postgres-cnpg.yaml", "kustomization.yaml"}


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize(
    "path", sorted(p for p in K8S.glob("*.yaml") if p.name not in CUSTOM), ids=lambda p: p.name
)
def test_manifest_validates_strictly(path: Path) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, "1.33", strict=True)


def test_every_service_has_a_deployment_with_probes_and_secrets() -> None:
    for name in SERVICE_ORDER:
        [deploy] = [d for d in documents(K8S / f"{name}.yaml") if d["kind"] == "Deployment"]
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/run/secrets" in mounts


def test_kustomization_lists_every_manifest() -> None:
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
