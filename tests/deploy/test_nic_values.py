"""NIC's site values live in one file (overlays/production/nic-values.yaml) and reach every
place that needs them: render production with a campus's values and find each value where it
must be, and no placeholder (CHANGE-ME, example.invalid) or base default left anywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .k8s import (
    K8S,
    NIC_VALUES,
    SERVICES,
    find,
    load_tool,
    one,
    pod,
    render,
    render_dir,
    sample_values,
    tree_with_values,
)

Docs = list[dict[str, Any]]
PLACEHOLDERS = ("CHANGE-ME", "example.invalid")


def committed_values() -> dict[str, str]:
    data: dict[str, str] = yaml.safe_load(NIC_VALUES.read_text(encoding="utf-8"))["data"]
    return data


def env(docs: Docs, deployment: str, name: str) -> list[str]:
    [c] = [c for c in pod(docs, "Deployment", deployment)["containers"] if c["name"] == deployment]
    return [e.get("value") for e in c.get("env", []) if e["name"] == name]


def cidrs(docs: Docs, policy: str, direction: str, rule: int = 0) -> list[str]:
    spec = one(docs, "NetworkPolicy", policy)["spec"]
    key, peers = ("ingress", "from") if direction == "ingress" else ("egress", "to")
    return [p["ipBlock"]["cidr"] for p in spec[key][rule][peers] if "ipBlock" in p]


def config(docs: Docs, key: str) -> list[str]:
    return [
        d["data"][key]
        for d in find(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("cctv-config-")
    ]


def our_images(docs: Docs) -> list[str]:
    out = []
    for name in SERVICES:
        spec = pod(docs, "Deployment", name)
        out += [c["image"] for c in [*spec["initContainers"], *spec["containers"]]]
    out += [c["image"] for c in pod(docs, "Job", "cctv-streams")["containers"]]
    return out


def storage_classes(docs: Docs) -> list[str]:
    nats = one(docs, "StatefulSet", "nats")["spec"]["volumeClaimTemplates"]
    cluster = one(docs, "Cluster", "cctv-db")["spec"]
    return [
        *(t["spec"].get("storageClassName") for t in nats),
        cluster["storage"].get("storageClass"),
        cluster["walStorage"].get("storageClass"),
    ]


# Each value and every place it must reach, read from the rendered objects (written here
# independently of the overlay's replacements file, so a forgotten target fails).
WHERE: dict[str, Callable[[Docs], list[Any]]] = {
    "image": our_images,
    "camera-network-cidr": lambda d: (
        cidrs(d, "ingest-cameras", "egress") + cidrs(d, "media-recorders", "egress")
    ),
    "object-store-cidr": lambda d: cidrs(d, "media-evidence-store", "egress"),
    "repair-system-cidr": lambda d: cidrs(d, "health-repair", "egress"),
    "mail-sms-cidr": lambda d: cidrs(d, "notify-campus", "egress"),
    "nic-admin-cidr": lambda d: (
        cidrs(d, "nats-external", "ingress")
        + one(d, "Service", "nats-external")["spec"]["loadBalancerSourceRanges"]
    ),
    "campus-client-cidr": lambda d: [
        *cidrs(d, "media-rtc", "ingress"),
        *cidrs(d, "media-rtc", "egress"),
        one(d, "Ingress", "console")["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/whitelist-source-range"
        ],
    ],
    "ice-servers-cidr": lambda d: cidrs(d, "media-ice-servers", "egress"),
    "console-host": lambda d: [
        *(r["host"] for r in one(d, "Ingress", "console")["spec"]["rules"]),
        *(h for t in one(d, "Ingress", "console")["spec"]["tls"] for h in t["hosts"]),
    ],
    "nats-external-host": lambda d: [
        one(d, "Service", "nats-external")["metadata"]["annotations"][
            "external-dns.alpha.kubernetes.io/hostname"
        ]
    ],
    "repair-system-url": lambda d: config(d, "REPAIR_URL"),
    "smtp-host": lambda d: config(d, "SMTP_HOST"),
    "sms-gateway-url": lambda d: config(d, "SMS_GATEWAY_URL"),
    "recorder-replay-url": lambda d: env(d, "media", "REPLAY_URL_TEMPLATE"),
    "recorders": lambda d: [one(d, "ConfigMap", "media-recorders")["data"]["recorders.json"]],
    "ice-servers": lambda d: env(d, "media", "MEDIA_ICE_SERVERS"),
    "backup-s3-path": lambda d: [
        one(d, "ObjectStore", "cctv-backup")["spec"]["configuration"]["destinationPath"]
    ],
    "backup-s3-endpoint": lambda d: [
        one(d, "ObjectStore", "cctv-backup")["spec"]["configuration"]["endpointURL"]
    ],
    "evidence-store": lambda d: env(d, "media", "EVIDENCE_STORE"),
    "evidence-s3-endpoint": lambda d: env(d, "media", "S3_ENDPOINT_URL"),
    "storage-class": storage_classes,
}


def test_the_sample_fills_every_value_of_the_file() -> None:
    """The committed file and the test's campus name the same values, and each has a place."""
    assert set(sample_values()) == set(committed_values()) == set(WHERE)


@pytest.mark.parametrize("overlay", ["production", "production-external-secrets"])
def test_every_value_reaches_every_place_it_must(overlay: str) -> None:
    docs = render(overlay)
    for key, value in sample_values().items():
        found = WHERE[key](docs)
        assert found, f"{key}: no place found in the render"
        assert all(f == value for f in found), f"{key}: {found} instead of {value!r}"


def base_defaults() -> set[str]:
    """What the base (and the demo) hold at the places NIC's values go: none may survive."""
    docs = render("base")
    found: set[str] = set()
    for key, where in WHERE.items():
        if key == "recorders":
            continue  # the base's "[]" (no recorders described) is in any YAML
        try:
            found |= {str(v) for v in where(docs) if v}
        except (KeyError, ValueError):
            continue  # a place only production has (the outside door, WebRTC)
    return found


@pytest.mark.parametrize("overlay", ["production", "production-external-secrets"])
def test_no_placeholder_or_base_default_survives(overlay: str) -> None:
    text = yaml.safe_dump(render(overlay), allow_unicode=True)
    for p in PLACEHOLDERS:
        assert p.lower() not in text.lower(), f"placeholder {p} left in the render"
    # the base's made-up domain (its registry, hosts, object store and recorder)
    assert "campus.internal" not in text, re.findall(r"\S*campus\.internal\S*", text)
    defaults = base_defaults()
    assert {"10.64.0.0/16", "cctv.campus.internal"} <= defaults  # the check sees them
    left = {d for d in defaults if re.search(rf"(?<![\w.-]){re.escape(d)}(?![\w.-])", text)}
    assert not left, f"base defaults left where NIC's values belong: {left}"


def test_the_committed_file_is_all_placeholders_and_each_shows_unfilled() -> None:
    """The tree ships no campus's addresses: every value is CHANGE-ME, and an unfilled
    production render shows it at every place (so `kubectl apply` refuses the CIDRs and
    host names, and nothing silently runs with another campus's ranges)."""
    values = committed_values()
    assert set(values.values()) == {"CHANGE-ME"}
    docs = render_dir(K8S / "overlays" / "production")
    for key in values:
        found = WHERE[key](docs)
        assert found and set(found) == {"CHANGE-ME"}, (key, found)


def test_a_missing_value_fails_the_render(tmp_path: Path) -> None:
    values = sample_values()
    del values["camera-network-cidr"]
    copy = tree_with_values(tmp_path, values)
    with pytest.raises(AssertionError, match="camera-network-cidr"):
        render_dir(copy / "overlays" / "production")


def test_the_placeholder_check_would_catch_a_forgotten_place(tmp_path: Path) -> None:
    """Drop one replacement target: the base's default (or the placeholder) survives, and
    the checks above see it."""
    copy = tree_with_values(tmp_path, sample_values())
    path = copy / "overlays" / "production" / "nic-values-replacements.yaml"
    replacements = yaml.safe_load(path.read_text(encoding="utf-8"))
    for r in replacements:
        r["targets"] = [t for t in r["targets"] if t["select"].get("name") != "media-recorders"]
    path.write_text(yaml.safe_dump(replacements), encoding="utf-8")
    docs = render_dir(copy / "overlays" / "production")
    found = WHERE["camera-network-cidr"](docs)
    assert "10.64.0.0/16" in found


# --- the values checker NIC runs before applying ------------------------------------------


def check(path: Path) -> subprocess.CompletedProcess[str]:
    tool = K8S / "tools" / "nic_values.py"
    return subprocess.run(
        [sys.executable, str(tool), str(path)], capture_output=True, text=True, timeout=60
    )


def check_values(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The checker on a nic-values.yaml holding `values` (it reads that file alone, so no copy
    of the whole tree is needed)."""
    cm = yaml.safe_load(NIC_VALUES.read_text(encoding="utf-8"))
    cm["data"] = values
    path = tmp_path / NIC_VALUES.name
    path.write_text(yaml.safe_dump(cm, sort_keys=False), encoding="utf-8")
    return check(path)


def test_the_checker_accepts_a_filled_file(tmp_path: Path) -> None:
    out = check_values(tmp_path, sample_values())
    assert out.returncode == 0, out.stderr


def test_the_checker_names_each_bad_value(tmp_path: Path) -> None:
    values = sample_values()
    values["camera-network-cidr"] = "10.64.0.0/33"
    values["console-host"] = "CHANGE-ME"
    values["evidence-store"] = "https://oss.example/bucket"
    values["image"] = "registry.hnsoftedu.edu.cn/cctv/campus-cctv:latest"
    del values["storage-class"]
    out = check_values(tmp_path, values)
    assert out.returncode == 1
    for key in ("camera-network-cidr", "console-host", "evidence-store", "image", "storage-class"):
        assert key in out.stderr, (key, out.stderr)
    assert "repair-system-url" not in out.stderr
    assert "Traceback" not in out.stderr


def test_the_committed_file_fails_the_checker() -> None:
    out = check(NIC_VALUES)
    assert out.returncode == 1 and "CHANGE-ME" in out.stderr


def test_the_nats_certificate_names_the_outside_door(tmp_path: Path) -> None:
    """make_secrets.py --nic-values: the server certificate is valid for nats-external-host,
    the name the CLI's wss:// URL uses; an unfilled file is refused, naming the value."""
    from cryptography import x509

    tool = K8S / "tools" / "make_secrets.py"
    copy = tree_with_values(tmp_path, sample_values())
    values = copy / NIC_VALUES.relative_to(K8S)
    out = subprocess.run(
        [sys.executable, str(tool), "--nic-values", str(values)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    made = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out.stdout) if d}
    cert = x509.load_pem_x509_certificate(made["nats-tls"]["stringData"]["tls.crt"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sample_values()["nats-external-host"] in sans.get_values_for_type(x509.DNSName)
    out = subprocess.run(
        [sys.executable, str(tool), "--nic-values", str(NIC_VALUES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "nats-external-host: 'CHANGE-ME'" in out.stderr


def test_cert_manager_certifies_the_outside_door_too(tmp_path: Path) -> None:
    """NIC issuing NATS's certificate with cert-manager (the component added to production's
    components): the certificate also names nats-external-host, after the in-cluster names."""
    copy = tree_with_values(tmp_path, sample_values())
    kustomization = copy / "overlays" / "production" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    kustomization.write_text(
        text.replace(
            "  - ../../components/media-rtc\n",
            "  - ../../components/media-rtc\n  - ../../components/cert-manager-nats\n",
        ),
        encoding="utf-8",
    )
    docs = render_dir(copy / "overlays" / "production")
    names = one(docs, "Certificate", "nats-tls")["spec"]["dnsNames"]
    assert names[-1] == sample_values()["nats-external-host"]
    assert {"nats", "*.nats-headless", "localhost"} <= set(names[:-1])


# --- media's recorders (RECORDERS): a file from nic-values, passwords from a Secret ---------


def test_the_recorders_reach_media_as_the_file_it_reads(tmp_path: Path) -> None:
    """Production: media's RECORDERS names the mounted ConfigMap's file, which holds NIC's
    list; each password_file is a key of the optional cctv-recorder-credentials Secret in
    media's /run/secrets; and media's own loader accepts what arrives."""
    from services.media.recorders import load_recorders

    docs = render("production")
    spec = pod(docs, "Deployment", "media")
    [c] = [c for c in spec["containers"] if c["name"] == "media"]
    assert env(docs, "media", "RECORDERS") == ["/run/cctv/recorders/recorders.json"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mount = mounts["/run/cctv/recorders"]
    assert mount.get("readOnly") and "subPath" not in mount  # edits reach the file in place
    assert volumes[mount["name"]]["configMap"]["name"] == "media-recorders"
    sources = volumes[mounts["/run/secrets"]["name"]]["projected"]["sources"]
    assert {"name": "cctv-recorder-credentials", "optional": True} in [s["secret"] for s in sources]
    text = one(docs, "ConfigMap", "media-recorders")["data"]["recorders.json"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in re.findall(r"/run/secrets/(recorder-[\w.-]+)", text):
        (secrets / name).write_text(f"pw-{name}\n")
    loaded = load_recorders(text.replace("/run/secrets/", f"{secrets}/"))
    assert loaded["NVR-科技楼204-PUB"].password == "pw-recorder-kj204"
    assert loaded["NVR-综合楼1001-CONF"].brand == "dahua"


def test_the_base_describes_no_recorder_and_media_reads_that() -> None:
    from services.media.recorders import load_recorders

    text = one(render("base"), "ConfigMap", "media-recorders")["data"]["recorders.json"]
    assert load_recorders(text) == {}


def test_the_checker_knows_media_recorder_fields() -> None:
    """The checker's list of fields is media's, less the inline password it refuses."""
    from services.media.recorders import RecorderConfig

    tool = load_tool("nic_values")
    assert set(tool.RECORDER_FIELDS) | {"password"} == set(RecorderConfig.model_fields)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"id": "N1", "brand": "onvif", "replay_url_template": "rtsp://n1/{channel}",
          "password": "s3cret"}, "holds a password"),
        ({"id": "N1", "brand": "sony"}, "brand 'sony'"),
        ({"id": "N1", "brand": "hikvision"}, "needs http_url"),
        ({"id": "N1", "http_url": "ftp://n1"}, "http_url 'ftp://n1'"),
        ({"id": "N1", "password_file": "/etc/shadow"}, "password_file '/etc/shadow'"),
        ({"id": "N1", "passwd_file": "/run/secrets/recorder-n1"}, "unknown field(s) passwd_file"),
        ({"brand": "dahua", "rtsp_url": "rtsp://n1"}, "has no id"),
        ({"id": "N1", "brand": "onvif", "replay_url_template": "rtsps://n1/{channel}"},
         "replay_url_template: recorder N1: 'rtsps://n1/{channel}' is not an rtsp:// URL"),
        ({"id": "N1", "replay_url_template": "rtsp://n1/{camera}"},
         "unknown placeholder {camera}: only {camera_id} and {channel}"),
        ({"id": "N1", "replay_url_template": "rtsp://admin:s3cret@n1/{channel}"},
         "holds a login"),
    ],
)  # fmt: skip
def test_the_checker_names_a_bad_recorder(
    tmp_path: Path, entry: dict[str, Any], named: str
) -> None:
    import json

    values = sample_values()
    values["recorders"] = json.dumps([{"id": "N0"}, entry])
    out = check_values(tmp_path, values)
    assert out.returncode == 1
    assert "recorders: entry 1" in out.stderr and named in out.stderr, out.stderr
    assert "s3cret" not in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("rtsps://nvr/replay/{camera_id}", "not an rtsp:// URL"),
        ("rtsp://admin:s3cret@nvr/replay/{camera_id}", "holds a login"),
        ("rtsp://nvr/replay/{cam}", "unknown placeholder {cam}"),
        ("rtsp://nvr/replay/{channel}", "does not hold {camera_id}"),
    ],
)
def test_the_checker_refuses_the_default_replay_template_as_media_does(
    tmp_path: Path, template: str, named: str
) -> None:
    values = sample_values()
    values["recorder-replay-url"] = template
    out = check_values(tmp_path, values)
    assert out.returncode == 1
    assert "recorder-replay-url" in out.stderr and named in out.stderr, out.stderr
    assert "s3cret" not in out.stderr


@pytest.mark.parametrize("value", ["[", '{"id": "N1"}', '[{"id": "N1"}, {"id": "N1"}]'])
def test_the_checker_names_a_malformed_recorder_list(tmp_path: Path, value: str) -> None:
    values = sample_values()
    values["recorders"] = value
    out = check_values(tmp_path, values)
    assert out.returncode == 1 and "recorders: " in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("stun:turn.hnsoftedu.edu.cn,turn://turn.hnsoftedu.edu.cn", "'turn://turn.hnsoftedu.edu.cn'"),
        ("stun:turn.hnsoftedu.edu.cn:3478?transport=udp", "takes no ?transport"),
        ("turns:turn.hnsoftedu.edu.cn?transport=udp", "turns: is TCP"),
    ],
)  # fmt: skip
def test_the_checker_names_a_bad_ice_server_as_media_would(
    tmp_path: Path, value: str, named: str
) -> None:
    """media's own parser (ADR 0028): what media would refuse at start is refused here."""
    values = sample_values()
    values["ice-servers"] = value
    out = check_values(tmp_path, values)
    assert out.returncode == 1
    assert "ice-servers: " in out.stderr and named in out.stderr, out.stderr
