"""What NIC applies: every overlay renders, validates and passes the cluster's policy.

Built-in kinds are checked by kubernetes-validate (strict: unknown fields fail), custom
resources against the operators' CRD schemas vendored in deploy/k8s/schemas (unknown fields
fail too: the API server would silently prune them). The policy is the namespace's Pod
Security *restricted* profile plus the house rules: read-only root, resources, probes, pinned
images, one token-less ServiceAccount per service, no Secret in the tree.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cctv.devstack.stack import SERVICE_ORDER
from cctv.plumbing.db import MIGRATOR_ROLE, SERVICE_ROLES

from .k8s import (
    K8S,
    OVERLAYS,
    SERVICES,
    containers,
    find,
    label,
    one,
    pod,
    pod_specs,
    render,
    render_dir,
    render_overlay,
    sample_values,
    tree_copy,
)

K8S_VERSION = "1.33"


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    [c] = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return c


SCHEMAS = K8S / "schemas"


def test_every_service_is_deployed() -> None:
    assert set(SERVICES) == set(SERVICE_ORDER)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_service(overlay: str) -> None:
    docs = render(overlay)
    for name in SERVICES:
        c = container(one(docs, "Deployment", name), name)
        assert c["command"] == ["python", "-m", f"services.{name}"]
        assert one(docs, "Service", name)["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            "campus-cctv"
        }


# --- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_kinds_validate_strictly(overlay: str) -> None:
    checked = 0
    for doc in render(overlay):
        if is_custom(doc):
            continue  # below
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        checked += 1
    assert checked > 30


def strict(schema: Any) -> Any:
    """Refuse unknown fields wherever the CRD lists the fields (as the API server prunes them)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            out["pattern"] = "(?i)^" + out["pattern"][5:]  # Go allows the flag after ^
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    path = SCHEMAS / f"{group}_{version}_{kind.lower()}.json"
    if not path.exists():
        raise AssertionError(f"{kind} {api_version}: no vendored schema {path.name}")
    schema = strict(json.loads(path.read_text()))
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the server
    return schema


def is_custom(doc: dict[str, Any]) -> bool:
    """Built-in groups are the core ("v1"), dot-less ones (apps, batch, policy) and *.k8s.io."""
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith("k8s.io")


def custom_objects(overlay: str) -> list[dict[str, Any]]:
    return [d for d in render(overlay) if is_custom(d)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_vendored_crd_schemas(overlay: str) -> None:
    objs = custom_objects(overlay)
    assert {"Cluster", "Database"} <= {o["kind"] for o in objs}
    for obj in objs:
        schema = crd_schema(obj["apiVersion"], obj["kind"])
        try:
            jsonschema.validate(obj, schema)
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{label(obj)}: {exc.message} at {list(exc.path)}") from None


def test_crd_check_refuses_a_misspelt_field() -> None:
    cluster = one(render("production"), "Cluster", "cctv-db")
    cluster["spec"]["instancess"] = 3
    with pytest.raises(jsonschema.ValidationError, match="instancess"):
        jsonschema.validate(cluster, crd_schema(cluster["apiVersion"], "Cluster"))


def test_vendored_schemas_say_where_they_come_from() -> None:
    index = (SCHEMAS / "README.md").read_text()
    for path in SCHEMAS.glob("*.json"):
        assert path.name in index
        assert re.search(r" v\d+\.\d+\.\d+ \(", json.loads(path.read_text())["$comment"])


# --- Pod Security restricted and the house rules -------------------------------------------

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(workload: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The checks of the Pod Security Standards *restricted* profile (v1.33), by name."""
    bad: list[str] = []
    where = label(workload)
    psc = spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            bad.append(f"{where}: {key}")
    for v in spec.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            bad.append(f"{where}: volume {v['name']} is {kinds}")
    for c in containers(spec):
        csc = c.get("securityContext", {})
        w = f"{where} container {c['name']}"
        if csc.get("privileged"):
            bad.append(f"{w}: privileged")
        if csc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{w}: allowPrivilegeEscalation must be false")
        if "ALL" not in csc.get("capabilities", {}).get("drop", []):
            bad.append(f"{w}: capabilities.drop must hold ALL")
        if set(csc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            bad.append(f"{w}: capabilities.add")
        if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            bad.append(f"{w}: runAsNonRoot")
        if csc.get("runAsUser", psc.get("runAsUser")) == 0:
            bad.append(f"{w}: runAsUser 0")
        seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{w}: seccompProfile {seccomp}")
        for p in c.get("ports", []):
            if p.get("hostPort"):
                bad.append(f"{w}: hostPort")
    return bad


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_restricted_pod_security(overlay: str) -> None:
    docs = render(overlay)
    bad = [v for w, spec in pod_specs(docs) for v in restricted_violations(w, spec)]
    assert not bad, bad
    ns = one(docs, "Namespace", "campus-cctv")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_restricted_check_catches_a_root_container() -> None:
    docs = render("demo")
    w, spec = next((w, s) for w, s in pod_specs(docs) if w["metadata"]["name"] == "audit")
    spec["containers"][0]["securityContext"].pop("allowPrivilegeEscalation")
    spec["securityContext"]["runAsNonRoot"] = False
    spec["containers"][0]["securityContext"]["runAsNonRoot"] = False
    found = restricted_violations(w, spec)
    assert any("allowPrivilegeEscalation" in b for b in found)
    assert any("runAsNonRoot" in b for b in found)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_root_filesystems_are_read_only_and_writes_go_to_declared_volumes(overlay: str) -> None:
    docs = render(overlay)
    for w, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        # a Deployment's data volume: a claim declared beside it (media's evidence store)
        claims |= {
            name
            for name, v in volumes.items()
            if "persistentVolumeClaim" in v
            and find(docs, "PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"])
        }
        for c in containers(spec):
            assert c["securityContext"].get("readOnlyRootFilesystem") is True, label(w)
            for m in c.get("volumeMounts", []):
                if m.get("readOnly"):
                    continue
                v = volumes.get(m["name"], {})
                assert "emptyDir" in v or m["name"] in claims, (
                    f"{label(w)} {c['name']}: {m['mountPath']} is writable but not scratch or data"
                )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resources_and_every_server_has_probes(overlay: str) -> None:
    for w, spec in pod_specs(render(overlay)):
        for c in containers(spec):
            res = c.get("resources", {})
            where = f"{label(w)} {c['name']}"
            assert {"cpu", "memory"} <= set(res.get("requests", {})), where
            assert "memory" in res.get("limits", {}), where
            if w["kind"] in ("Deployment", "StatefulSet") and c in spec["containers"]:
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert probe in c, f"{where}: no {probe}"
    nats = one(render(overlay), "StatefulSet", "nats")
    assert nats["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_probes_use_the_service_shell_endpoints(overlay: str) -> None:
    docs = render(overlay)
    for name in SERVICES:
        c = container(one(docs, "Deployment", name), name)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_service_account_without_a_token(overlay: str) -> None:
    docs = render(overlay)
    accounts = {d["metadata"]["name"]: d for d in find(docs, "ServiceAccount")}
    used = set()
    for w, spec in pod_specs(docs):
        sa = spec.get("serviceAccountName")
        assert sa in accounts, f"{label(w)} runs as the default ServiceAccount"
        assert sa not in used, f"{label(w)} shares ServiceAccount {sa}"
        used.add(sa)
        assert spec.get("automountServiceAccountToken") is False, label(w)
        assert accounts[sa].get("automountServiceAccountToken") is False, sa
    assert set(SERVICES) <= used


# x.y.z (PostgreSQL's own versions are major.minor), an optional variant, or a digest
TAG = re.compile(r"^([^:@]+)(:\d+\.\d+(\.\d+)?(-[\w.-]+)?)?(@sha256:[0-9a-f]{64})?$")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_to_exact_versions(overlay: str) -> None:
    docs = render(overlay)
    images = [c["image"] for _, spec in pod_specs(docs) for c in containers(spec)]
    images += [d["spec"]["imageName"] for d in find(docs, "Cluster")]
    for image in images:
        m = TAG.match(image)
        assert m and (m.group(2) or m.group(5)), f"{image}: not pinned to a version or a digest"
        if m.group(2) and not m.group(3):
            assert m.group(1).endswith("/postgresql"), f"{image}: x.y is a floating tag"
    expected = (
        sample_values()["image"]  # NIC's registry (nic-values)
        if overlay.startswith("production")
        else "registry.campus.internal/campus-cctv/campus-cctv:0.1.0"
    )
    assert expected in images
    ours = {i for i in images if "campus-cctv" in i}
    assert len(ours) == 1, f"one image of ours per overlay, not {ours}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_the_tree(overlay: str) -> None:
    """`kubectl apply -k` must never overwrite a real Secret with an example."""
    docs = render(overlay)
    assert not find(docs, "Secret")
    text = yaml.safe_dump(docs)
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "credentials inside a URL"
    assert "CHANGE-ME" not in text.upper()
    for w, spec in pod_specs(docs):
        for c in containers(spec):
            for e in c.get("env", []):
                value = str(e.get("value", ""))
                if re.search(r"(?i)(password|secret|token|_key)$", e["name"]) and value:
                    assert value.startswith("/"), f"{label(w)}: {e['name']} is a literal secret"


def referenced_secrets(docs: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if key in ("secret", "secretRef") and "name" in node:
                names.add(node["name"])
            for k in ("secretName",):
                if isinstance(node.get(k), str):
                    names.add(node[k])
            if key in (
                "secretKeyRef",
                "passwordSecret",
                "accessKeyId",
                "secretAccessKey",
                "credentials",
            ):
                names.add(node["name"])
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(docs)
    return names


def made_secrets(*args: str) -> list[dict[str, Any]]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "S3_SECRET_ACCESS_KEY": "s3-secret-for-the-test"}
    out = subprocess.run(
        [sys.executable, str(K8S / "tools" / "make_secrets.py"), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d]


# made by CloudNativePG itself, or by NIC with its own certificate
OPERATOR_MADE = {"cctv-db-ca"}
# NIC's own: the console's certificate; optional device and recorder logins
NIC_MADE = {"console-tls", "cctv-device-credentials", "cctv-recorder-credentials"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_make_secrets_makes_every_secret_the_manifests_reference(overlay: str) -> None:
    made = made_secrets("--s3-access-key-id", "AKIATEST")
    for s in made:
        kubernetes_validate.validate(s, K8S_VERSION, strict=True)
        assert s["metadata"]["namespace"] == "campus-cctv"
    names = {s["metadata"]["name"] for s in made}
    missing = referenced_secrets(render(overlay)) - names - OPERATOR_MADE - NIC_MADE
    assert not missing, missing


def test_made_secrets_agree_with_each_other() -> None:
    """The password in a role's Secret is the one in the service's URL; NATS the same."""
    made = {s["metadata"]["name"]: s["stringData"] for s in made_secrets()}
    migrator = made["cctv-db-migrator"]
    assert migrator["username"] == MIGRATOR_ROLE
    for svc in SERVICES:
        role = SERVICE_ROLES[svc]
        db = made["cctv-db-" + role.removeprefix("cctv_").replace("_", "-")]
        assert db["username"] == role
        url = made[f"cctv-{svc}"]["database_url"]
        assert url.startswith(f"postgresql://{role}:{db['password']}@cctv-db-rw:5432/cctv?")
        assert "sslmode=verify-full" in url
        assert "migration_database_url" not in made[f"cctv-{svc}"]  # init containers only
        owner = made["cctv-migrator"]["migration_database_url"]
        assert owner.startswith(f"postgresql://{MIGRATOR_ROLE}:{migrator['password']}@")
        nats = made[f"cctv-{svc}"]["nats_url"]
        assert nats == f"tls://{svc}:{made['nats-users'][svc.upper()]}@nats:4222"
    # signed identities: only the console holds the private half; every service the public
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = base64.b64decode(made["cctv-console"]["identity_signing_key"])
    public = (
        Ed25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    for svc in SERVICES:
        assert made[f"cctv-{svc}"]["identity_public_key"] == base64.b64encode(public).decode()
        assert made[f"cctv-{svc}"]["nats_user"] == svc
        assert made[f"cctv-{svc}"]["nats_password"] == made["nats-users"][svc.upper()]
        assert ("identity_signing_key" in made[f"cctv-{svc}"]) == (svc == "console")
    assert made["cctv-metrics-token"]["token"] == made["cctv-console"]["metrics_token"]
    assert made["cctv-console"]["metrics_token"] != made["cctv-console"]["session_secret"]
    assert made["cctv-audit-signing-key"]["signing.key"].startswith(
        "PRIVATE+KEY+hnsoftedu.edu.cn/campus-cctv/audit+"
    )
    again = {s["metadata"]["name"]: s["stringData"] for s in made_secrets()}
    assert again["nats-users"]["INGEST"] != made["nats-users"]["INGEST"]


def test_config_edits_roll_the_pods(tmp_path: Path) -> None:
    """ConfigMap names carry a hash of their content: an edit changes what pods reference."""
    copy_root = tree_copy(tmp_path)
    before = render_dir(copy_root / "overlays" / "production")
    env = copy_root / "base" / "config.env"
    env.write_text(env.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=WARNING"))
    conf = copy_root / "base" / "nats" / "nats.conf"
    conf.write_text(conf.read_text().replace("max_payload: 1MB", "max_payload: 2MB"))
    after = render_dir(copy_root / "overlays" / "production")

    def refs(docs: list[dict[str, Any]], name: str) -> tuple[str, str]:
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        nats = one(docs, "StatefulSet", "nats")["spec"]["template"]["spec"]
        cm = next(v["configMap"]["name"] for v in nats["volumes"] if "configMap" in v)
        return spec["containers"][0]["envFrom"][0]["configMapRef"]["name"], cm

    for name in SERVICES:
        (svc_before, nats_before), (svc_after, nats_after) = refs(before, name), refs(after, name)
        assert svc_before.startswith("cctv-config-") and svc_before != svc_after
        assert nats_before.startswith("nats-config-") and nats_before != nats_after


# --- overlays -----------------------------------------------------------------------------


def test_demo_runs_one_of_everything() -> None:
    docs = render("demo")
    for d in find(docs, "Deployment") + find(docs, "StatefulSet"):
        assert d["spec"]["replicas"] == 1, label(d)
    assert one(docs, "Cluster", "cctv-db")["spec"]["instances"] == 1
    job = one(docs, "Job", "cctv-streams")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--replicas", "1"]
    nats_conf = one_configmap(docs, "nats-config")
    assert "cluster {" not in nats_conf["cluster.conf"]
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com")]
    assert one_configmap(docs, "cctv-config")["SEED_DEMO"] == "true"


def one_configmap(docs: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    [cm] = [
        d
        for d in find(docs, "ConfigMap")
        if re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", d["metadata"]["name"])
    ]
    return cm["data"]


def test_production_survives_a_node_loss() -> None:
    docs = render("production")
    nats = one(docs, "StatefulSet", "nats")
    replicas = nats["spec"]["replicas"]
    assert replicas == 3
    routes = re.findall(
        r"tls://(nats-\d)\.nats-headless:6222", one_configmap(docs, "nats-config")["cluster.conf"]
    )
    assert routes == [f"nats-{i}" for i in range(replicas)]
    conf = one_configmap(docs, "nats-config")
    limit = re.search(r"max_file_store: (\d+)Gi", conf["jetstream.conf"])
    [claim] = nats["spec"]["volumeClaimTemplates"]
    pvc = int(claim["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
    assert limit and int(limit.group(1)) < pvc, "JetStream's limit must stay under its volume"
    anti = nats["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"]
    job = one(docs, "Job", "cctv-streams")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == str(replicas)
    pdbs = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in find(docs, "PodDisruptionBudget")
    }
    for d in find(docs, "Deployment"):
        name = d["metadata"]["name"]
        if d["spec"]["replicas"] > 1:
            assert name in pdbs, f"{name}: replicas without a PodDisruptionBudget"
            assert d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        else:
            assert d["spec"]["strategy"]["type"] == "Recreate", name  # the one writer
    assert "nats" in pdbs
    cluster = one(docs, "Cluster", "cctv-db")["spec"]
    assert cluster["instances"] == 3 and cluster["enablePDB"] is True
    assert cluster["affinity"]["podAntiAffinityType"] == "required"


def test_production_backs_up_postgres_to_object_storage() -> None:
    docs = render("production")
    [plugin] = one(docs, "Cluster", "cctv-db")["spec"]["plugins"]
    assert plugin["isWALArchiver"] is True
    store = one(docs, "ObjectStore", plugin["parameters"]["barmanObjectName"])
    assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")
    [sched] = find(docs, "ScheduledBackup")
    assert sched["spec"]["cluster"]["name"] == "cctv-db"
    assert sched["spec"]["method"] == "plugin"
    assert sched["spec"]["pluginConfiguration"]["name"] == plugin["name"]
    assert len(sched["spec"]["schedule"].split()) == 6  # CNPG's cron has seconds


def evidence_mounts(docs: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """media's container env and the volume claims its pod mounts."""
    spec = one(docs, "Deployment", "media")["spec"]["template"]["spec"]
    env = {
        e["name"]: e.get("value", "")
        for e in container(one(docs, "Deployment", "media"), "media")["env"]
    }
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    ]
    return env, claims


def test_demo_keeps_footage_on_a_volume_that_outlives_the_pod() -> None:
    """Footage is kept a year (Art. 18): the demo's evidence store is a claim, not an emptyDir,
    mounted where EVIDENCE_STORE="" puts it ($DATA_DIR/evidence)."""
    docs = render("demo")
    env, claims = evidence_mounts(docs)
    assert env["EVIDENCE_STORE"] == "" and claims == ["media-evidence"]
    one(docs, "PersistentVolumeClaim", "media-evidence")
    mounts = container(one(docs, "Deployment", "media"), "media")["volumeMounts"]
    data_dir = one_configmap(docs, "cctv-config")["DATA_DIR"]
    assert {"name": "evidence", "mountPath": f"{data_dir}/evidence"} in mounts
    media = one(docs, "Deployment", "media")
    assert media["spec"]["strategy"]["type"] == "Recreate"  # one pod holds the RWO claim
    recorder = container(media, "recorder")
    assert recorder["command"][:3] == ["python", "-m", "demo.simulator.replay"]
    assert env["REPLAY_URL_TEMPLATE"].startswith("rtsp://127.0.0.1:8556/")


@pytest.mark.parametrize("overlay", ["production", "production-external-secrets"])
def test_production_keeps_footage_in_the_object_store(overlay: str) -> None:
    docs = render(overlay)
    env, claims = evidence_mounts(docs)
    assert env["EVIDENCE_STORE"].startswith("s3://") and env["S3_ENDPOINT_URL"]
    assert env["S3_OBJECT_LOCK"] == "true"
    assert claims == [] and not find(docs, "PersistentVolumeClaim")
    assert one(docs, "Deployment", "media")["spec"]["replicas"] == 2
    # the keys come from media's own Secret, never the manifests
    made = {s["metadata"]["name"]: s["stringData"] for s in made_secrets()}
    assert {"s3_access_key", "s3_secret_key", "replay_username", "replay_password"} <= set(
        made["cctv-media"]
    )
    assert not {"S3_ACCESS_KEY", "S3_SECRET_KEY"} & set(env)


def test_every_key_of_medias_secret_is_a_media_setting() -> None:
    """Mounted at /run/secrets, each key is read as the setting of its name: a key no setting
    has (a misspelt TURN login, ADR 0028) would be ignored, and media would start without it."""
    from services.media.settings import MediaSettings

    made = {s["metadata"]["name"]: s["stringData"] for s in made_secrets()}
    keys = set(made["cctv-media"])
    assert {"media_turn_secret", "media_turn_username", "media_turn_password"} <= keys
    assert keys <= set(MediaSettings.model_fields), keys - set(MediaSettings.model_fields)


def test_production_is_scraped_by_the_prometheus_operator() -> None:
    docs = render("production")
    scraped: list[str] = []
    for sm in find(docs, "ServiceMonitor"):
        selected = [
            d
            for d in find(docs, "Service")
            if sm["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()
        ]
        scraped += [d["metadata"]["name"] for d in selected]
        [endpoint] = sm["spec"]["endpoints"]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        # the console's port faces people: its /metrics wants the bearer token
        assert ("authorization" in endpoint) == (
            [d["metadata"]["name"] for d in selected] == ["console"]
        )
    assert sorted(scraped) == sorted(SERVICES)
    monitors = {d["metadata"]["name"]: d for d in find(docs, "PodMonitor")}
    assert monitors["nats"]["spec"]["podMetricsEndpoints"][0]["port"] == "prom-metrics"
    assert monitors["cctv-db"]["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": "cctv-db"}


# --- PostgreSQL roles ---------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_roles_are_the_plumbing_layout_and_declared_not_migrated(overlay: str) -> None:
    docs = render(overlay)
    roles = {r["name"]: r for r in one(docs, "Cluster", "cctv-db")["spec"]["managed"]["roles"]}
    assert set(roles) == {MIGRATOR_ROLE, *SERVICE_ROLES.values()}  # cctv/plumbing/db.py
    for r in roles.values():
        assert r["login"] is True and r["passwordSecret"]["name"].startswith("cctv-db-")
        for power in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
            assert not r.get(power), f"{r['name']}: {power}"
    schemas = {s["name"]: s["owner"] for s in one(docs, "Database", "cctv")["spec"]["schemas"]}
    assert schemas == {s: MIGRATOR_ROLE for s in SERVICES}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_migrate_init_container_holds_the_migrator_password(overlay: str) -> None:
    """Migrations run as the schema owner in each pod's init container (MIGRATE=only); the
    service container runs as its own role (MIGRATE=check) and cannot read the owner's URL."""
    docs = render(overlay)
    for name in SERVICES:
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        [init] = [c for c in spec["initContainers"] if c["name"] == "migrate"]
        assert init["command"] == ["python", "-m", f"services.{name}"]
        env = {e["name"]: e for e in init["env"]}
        assert env["MIGRATE"]["value"] == "only"
        ref = env["MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "cctv-migrator", "key": "migration_database_url"}
        main = container(one(docs, "Deployment", name), name)
        assert {"name": "MIGRATE", "value": "check"} in main["env"]
        for c in spec["containers"]:
            text = json.dumps(c)
            assert "cctv-migrator" not in text and "MIGRATION_DATABASE_URL" not in text, c["name"]
        volumes = json.dumps(spec["volumes"])
        assert "cctv-migrator" not in volumes, f"{name}: the owner's Secret as a volume"


# --- NATS ---------------------------------------------------------------------------------


def test_nats_auth_conf_is_generated_from_the_table() -> None:
    import subprocess
    import sys

    tool = K8S / "tools" / "nats_auth.py"
    out = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_follows_the_helm_chart_conventions(overlay: str) -> None:
    docs = render(overlay)
    sts = one(docs, "StatefulSet", "nats")
    spec = sts["spec"]["template"]["spec"]
    nats, exporter = spec["containers"]
    assert nats["lifecycle"]["preStop"]["exec"]["command"] == [
        "nats-server",
        "-sl=ldm=/var/run/nats/nats.pid",
    ]
    assert spec["terminationGracePeriodSeconds"] >= 30 + 20
    conf = one_configmap(docs, "nats-config")
    assert "lame_duck_duration: 30s" in conf["nats.conf"]
    assert "pid_file: /var/run/nats/nats.pid" in conf["nats.conf"]
    assert re.search(r"tls \{\s*cert_file", conf["nats.conf"])
    assert "http://localhost:8222/" in exporter["args"]
    assert one(docs, "Service", "nats-headless")["spec"]["clusterIP"] == "None"
    [src] = nats["envFrom"]
    made = {s["metadata"]["name"]: s["stringData"] for s in made_secrets()}
    given = {src["prefix"] + key for key in made[src["secretRef"]["name"]]}
    wanted = set(re.findall(r"password\"?: \$(NATS_PASSWORD_\w+)", conf["auth.conf"]))
    assert wanted and wanted <= given, f"{wanted - given} not given to the NATS container"


# --- network ------------------------------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "the checker reads matchLabels only"
    return selector.get("matchLabels", {}).items() <= labels.items()


def allowed(
    docs: list[dict[str, Any]],
    src: dict[str, str] | str,
    dst: dict[str, str] | str,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Would the namespace's NetworkPolicies let `src` reach `dst` on `protocol` `port`?

    A pod is its labels (in campus-cctv); a string is an outside peer: a namespace name or a
    CIDR ("ip:10.64.1.5")."""

    def peer_matches(peer: dict[str, Any], who: dict[str, str] | str) -> bool:
        if isinstance(who, str):
            if who.startswith("ip:"):
                import ipaddress

                ip = ipaddress.ip_address(who[3:])
                block = peer.get("ipBlock") or {}
                return (
                    bool(block)
                    and ip in ipaddress.ip_network(block["cidr"])
                    and not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
                )
            ns = peer.get("namespaceSelector")
            return (
                ns is not None
                and selects(ns, {"kubernetes.io/metadata.name": who})
                and ("podSelector" not in peer)
            )
        if "namespaceSelector" in peer or "ipBlock" in peer:
            return False
        return selects(peer["podSelector"], who)

    def port_matches(rule: dict[str, Any], pod: dict[str, str] | str) -> bool:
        ports = rule.get("ports")
        if not ports:
            return True
        for p in ports:
            if p.get("protocol", "TCP") != protocol:
                continue
            if p["port"] == port or (
                isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"])
            ):
                return True
            if isinstance(p["port"], str) and not isinstance(pod, str):
                return True  # a named port: the services' `http`, checked by the callers
        return False

    def direction_ok(pod: dict[str, str] | str, other: dict[str, str] | str, kind: str) -> bool:
        if isinstance(pod, str):
            return True  # outside the namespace: not ours to police
        rules = [
            p
            for p in find(docs, "NetworkPolicy")
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod)
        ]
        if not rules:
            return True
        key, peers = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        for p in rules:
            for rule in p["spec"].get(key, []):
                if port_matches(rule, dst) and (
                    not rule.get(peers) or any(peer_matches(x, other) for x in rule[peers])
                ):
                    return True
        return False

    return direction_ok(src, dst, "Egress") and direction_ok(dst, src, "Ingress")


def pod_labels(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    return dict(one(docs, kind, name)["spec"]["template"]["metadata"]["labels"])


POSTGRES = {"cnpg.io/cluster": "cctv-db", "cnpg.io/instanceRole": "primary"}


def host_in(cidr: str, n: int = 2) -> str:
    """A peer address inside `cidr`, as the evaluator's "ip:" peers."""
    import ipaddress

    net = ipaddress.ip_network(cidr)
    return f"ip:{net[min(n, net.num_addresses - 1)]}"


def places(overlay: str) -> dict[str, str]:
    """The campus's peers: the demo's base defaults, or production's nic-values (sample)."""
    if overlay == "demo":
        return {
            "camera": "ip:10.64.3.17",
            "store": "ip:10.10.0.40",
            "mail": "ip:10.10.0.25",
        }
    v = sample_values()
    return {
        "camera": host_in(v["camera-network-cidr"], 3 * 256 + 17),
        "store": host_in(v["object-store-cidr"]),
        "mail": host_in(v["mail-sms-cidr"]),
    }


CAMERA = places("demo")["camera"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_drawn_traffic(overlay: str) -> None:
    docs = render(overlay)
    CAMERA, EVIDENCE_STORE, MAIL = (places(overlay)[k] for k in ("camera", "store", "mail"))
    pods = {name: pod_labels(docs, "Deployment", name) for name in SERVICES}
    nats = pod_labels(docs, "StatefulSet", "nats")
    streams = pod_labels(docs, "Job", "cctv-streams")
    for name, me in pods.items():
        assert allowed(docs, me, nats, 4222), f"{name} → NATS"
        assert allowed(docs, me, POSTGRES, 5432), f"{name} → PostgreSQL"
        assert not allowed(docs, me, nats, 6222), f"{name} → NATS routes"
        # RTSP on the camera network: ingest (live streams) and media (the recorders' replay)
        assert allowed(docs, me, CAMERA, 554) == (name in ("ingest", "media")), f"{name} → 554"
        # the vendor SDK ports are the cameras' own: ingest only
        assert allowed(docs, me, CAMERA, 37777) == (name == "ingest"), f"{name} → cameras"
        assert allowed(docs, me, EVIDENCE_STORE, 9000) == (name == "media"), f"{name} → S3"
        assert allowed(docs, "ingress-nginx", me, 8080) == (name == "console"), f"ingress → {name}"
        for other, them in pods.items():
            if other != name:
                assert not allowed(docs, me, them, 8080), f"{name} → {other}"
    assert allowed(docs, streams, nats, 4222)
    assert not allowed(docs, streams, POSTGRES, 5432)
    assert allowed(docs, nats, nats, 6222)
    assert not allowed(docs, nats, POSTGRES, 5432)
    assert not allowed(docs, "ingress-nginx", nats, 4222)
    assert not allowed(docs, "default", POSTGRES, 5432)
    assert allowed(docs, "monitoring", nats, 7777)
    assert not allowed(docs, pods["ingest"], "ip:192.168.1.1", 554)
    assert not allowed(docs, pods["notify"], "ip:10.1.2.3", 443)
    assert allowed(docs, pods["notify"], MAIL, 587)  # the campus mail relay
    assert not allowed(docs, pods["ingest"], MAIL, 587)
    assert not allowed(docs, pods["media"], MAIL, 587)
    assert not allowed(docs, pods["media"], "ip:192.168.1.1", 554)
    assert not allowed(docs, pods["media"], "ip:8.8.8.8", 443)  # footage stays on campus


def test_network_check_depends_on_the_policies() -> None:
    docs = render("demo")
    ingest = pod_labels(docs, "Deployment", "ingest")
    assert allowed(docs, ingest, CAMERA, 554)
    without = [d for d in docs if d["metadata"]["name"] != "ingest-cameras"]
    assert not allowed(without, ingest, CAMERA, 554)
    opened = copy.deepcopy(docs)
    for d in opened:
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "metrics":
            d["spec"]["ingress"][0]["from"] = []  # from anywhere
    health = pod_labels(docs, "Deployment", "health")
    assert not allowed(docs, "default", health, 8082)
    assert allowed(opened, "default", health, 8082)


# --- secrets from a store -----------------------------------------------------------------


def test_external_secrets_are_generated_from_the_layout() -> None:
    import subprocess
    import sys

    tool = K8S / "tools" / "external_secrets.py"
    out = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_store_makes_the_same_secrets_as_make_secrets() -> None:
    """Same names, types and keys; every URL built from the store's passwords."""
    made = {s["metadata"]["name"]: s for s in made_secrets("--s3-access-key-id", "AKIATEST")}
    docs = render("production-external-secrets")
    pulled = {d["spec"]["target"]["name"]: d for d in find(docs, "ExternalSecret")}
    assert set(pulled) == set(made)
    for name, es in pulled.items():
        tpl = es["spec"]["target"]["template"]
        assert tpl["type"] == made[name]["type"], name
        assert set(tpl["data"]) == set(made[name]["stringData"]), name
        variables = {d["secretKey"] for d in es["spec"]["data"]}
        for key, text in tpl["data"].items():
            used = set(re.findall(r"\{\{ \.(\w+) \}\}", text))
            assert used <= variables, (name, key)
        assert es["spec"]["secretStoreRef"] == {
            "kind": "ClusterSecretStore",
            "name": "campus-secrets",
        }
    url = pulled["cctv-ingest"]["spec"]["target"]["template"]["data"]["database_url"]
    assert url.startswith("postgresql://cctv_ingest:{{ .db_ingest_password }}@cctv-db-rw:5432/")
    assert referenced_secrets(docs) - set(pulled) <= OPERATOR_MADE | NIC_MADE


def test_restore_builds_the_cluster_from_the_object_store(tmp_path: Path) -> None:
    docs = render_overlay(
        tmp_path, "restore", "resources: [../production]\ncomponents: [../../components/restore]\n"
    )
    cluster = one(docs, "Cluster", "cctv-db")
    jsonschema.validate(cluster, crd_schema(cluster["apiVersion"], "Cluster"))
    spec = cluster["spec"]
    assert "initdb" not in spec["bootstrap"]
    [origin] = spec["externalClusters"]
    assert spec["bootstrap"]["recovery"]["source"] == origin["name"]
    store = one(docs, "ObjectStore", origin["plugin"]["parameters"]["barmanObjectName"])
    assert store["metadata"]["name"] == "cctv-backup"
    # reads the old server's backups, archives under a new name: never over its own source
    assert origin["plugin"]["parameters"]["serverName"] == "cctv-db"
    assert spec["plugins"][0]["parameters"]["serverName"] != "cctv-db"


# --- alerting rules -----------------------------------------------------------------------


def test_prometheus_rules_wrap_the_monitoring_rule_files() -> None:
    """The rules are deploy/monitoring's; the PrometheusRule objects are generated from them."""
    import subprocess
    import sys

    tool = K8S / "tools" / "prometheus_rules.py"
    out = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    files = sorted((K8S.parent / "monitoring" / "rules").glob("*.rules.yml"))
    rules = {d["metadata"]["name"]: d for d in find(render("production"), "PrometheusRule")}
    assert set(rules) == {p.name.removesuffix(".rules.yml") for p in files}
    for path in files:
        groups = yaml.safe_load(path.read_text())["groups"]
        assert rules[path.name.removesuffix(".rules.yml")]["spec"]["groups"] == groups


def test_cert_manager_can_issue_the_nats_certificates(tmp_path: Path) -> None:
    docs = render_overlay(
        tmp_path,
        "cm",
        "namespace: campus-cctv\n"
        "resources: [../production]\ncomponents: [../../components/cert-manager-nats]\n",
    )
    certs = {d["metadata"]["name"]: d for d in find(docs, "Certificate")}
    for obj in [*certs.values(), *find(docs, "Issuer")]:
        jsonschema.validate(obj, crd_schema(obj["apiVersion"], obj["kind"]))
    # the Secrets the pods read are the ones cert-manager writes
    sts = one(docs, "StatefulSet", "nats")["spec"]["template"]["spec"]
    tls = next(v["secret"]["secretName"] for v in sts["volumes"] if v["name"] == "certs")
    assert certs["nats-tls"]["spec"]["secretName"] == tls
    sans = set(certs["nats-tls"]["spec"]["dnsNames"])
    assert {"nats", "*.nats-headless"} <= sans  # the client URL's host and every route's
    for w, spec in pod_specs(docs):
        for v in spec.get("volumes", []):
            if v.get("secret", {}).get("secretName") == certs["nats-ca"]["spec"]["secretName"]:
                # the CA's Secret holds its key too: pods take only the certificate
                assert v["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], label(w)


# --- from outside the cluster: the CLI and auditors, WebRTC viewers -------------------------


def test_the_outside_door_admits_only_nic_admins_and_only_to_the_websocket_port() -> None:
    docs = render("production")
    v = sample_values()
    nats = pod_labels(docs, "StatefulSet", "nats")
    admin, campus = host_in(v["nic-admin-cidr"]), host_in(v["campus-client-cidr"])
    assert allowed(docs, admin, nats, 8443)
    assert not allowed(docs, campus, nats, 8443)
    for port in (4222, 6222, 8222, 7777):  # the inside of NATS stays inside
        assert not allowed(docs, admin, nats, port), port
    svc = one(docs, "Service", "nats-external")["spec"]
    assert svc["type"] == "LoadBalancer" and svc["selector"] == {"app.kubernetes.io/name": "nats"}
    # the client's address must reach the pod, or the ipBlock above would see a node's
    assert svc["externalTrafficPolicy"] == "Local"
    assert svc["loadBalancerSourceRanges"] == [v["nic-admin-cidr"]]
    [port] = svc["ports"]
    [server] = [c for c in pod(docs, "StatefulSet", "nats")["containers"] if c["name"] == "nats"]
    container_port = {p["name"]: p["containerPort"] for p in server["ports"]}[port["targetPort"]]
    conf = one_configmap(docs, "nats-config")["websocket.conf"]
    assert re.search(rf"websocket \{{\s*port: {container_port}\s*tls \{{", conf)
    # the demo opens no door
    demo = render("demo")
    assert not find(demo, "Service", "nats-external")
    assert not allowed(demo, "ip:10.64.0.9", pod_labels(demo, "StatefulSet", "nats"), 8443)


def test_only_cli_and_reader_may_come_through_the_outside_door() -> None:
    """auth.conf: the contract's users and permissions unchanged, plus each user's connection
    types; a service's password opens only the in-cluster client port."""
    from cctv.contract.permissions import render_nats_conf

    text = (K8S / "base" / "nats" / "auth.conf").read_text()

    def parse(conf: str) -> dict[str, Any]:
        body = conf[conf.index("accounts:") + len("accounts:") :]
        loaded: dict[str, Any] = json.loads(re.sub(r"\$(NATS_PASSWORD_\w+)", r'"\1"', body))
        return loaded

    ours = parse(text)
    types = {u["user"]: u.pop("allowed_connection_types") for u in ours["CCTV"]["users"]}
    assert ours == parse(render_nats_conf(env_prefix="NATS_PASSWORD_"))
    assert {u for u, t in types.items() if "WEBSOCKET" in t} == {"cli", "reader"}
    assert all(t[0] == "STANDARD" for t in types.values())


def test_webrtc_viewers_on_campus_reach_media_over_udp_only() -> None:
    docs = render("production")
    v = sample_values()
    media = pod_labels(docs, "Deployment", "media")
    env = {e["name"]: e for e in container(one(docs, "Deployment", "media"), "media")["env"]}
    low, high = int(env["MEDIA_RTC_PORT_MIN"]["value"]), int(env["MEDIA_RTC_PORT_MAX"]["value"])
    browser = host_in(v["campus-client-cidr"])
    assert allowed(docs, browser, media, low, "UDP") and allowed(docs, browser, media, high, "UDP")
    assert not allowed(docs, browser, media, high + 1, "UDP")
    assert not allowed(docs, browser, media, low, "TCP")
    assert not allowed(docs, browser, media, 8086)  # its HTTP port stays NATS-only
    assert not allowed(docs, host_in(v["nic-admin-cidr"]), media, low, "UDP")
    assert allowed(docs, media, browser, 51234, "UDP")  # answers to the browser's candidate
    assert allowed(docs, media, host_in(v["ice-servers-cidr"]), 3478, "UDP")
    assert not allowed(docs, media, "ip:8.8.8.8", 3478, "UDP")
    # the Service's node ports are the container's ports, on the node the pod runs on
    svc = one(docs, "Service", "media-rtc")["spec"]
    assert svc["type"] == "NodePort" and svc["externalTrafficPolicy"] == "Local"
    ports = sorted(p["port"] for p in svc["ports"])
    assert ports == list(range(low, high + 1))
    for p in svc["ports"]:
        assert p["protocol"] == "UDP" and p["port"] == p["targetPort"] == p["nodePort"]
    assert 30000 <= low and high <= 32767  # the default NodePort range
    assert env["MEDIA_RTC_ADVERTISE_IP"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "status.hostIP"}
    }
    assert env["MEDIA_ICE_SERVERS"]["value"] == v["ice-servers"]
    # one media pod per node: a node's ports lead to one pod
    anti = pod(docs, "Deployment", "media")["affinity"]["podAntiAffinity"]
    [rule] = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "media"}
    # the demo keeps the settings, opens nothing
    demo = render("demo")
    assert not find(demo, "Service", "media-rtc")
    demo_media = pod_labels(demo, "Deployment", "media")
    assert not allowed(demo, "ip:10.128.0.9", demo_media, 40000, "UDP")
