"""Run a command as the container would: non-root, read-only root, only declared paths writable.

Started by root inside `unshare --mount --propagation private` (a mount namespace of its own,
so nothing here touches the machine's mounts), with a JSON spec:

    {"uid": 10001, "gid": 10001,
     "writable": ["/tmp", "/var/lib/cctv"],          # emptyDir/PVC volumes (fresh tmpfs),
                                                     # a parent before a volume inside it
     "mounts": {"/run/secrets": "/host/dir", ...},   # read-only volumes (bind mounts)
     "binds": {"/run/cctv/pg/.s.PGSQL.5432": "/host/socket"},  # single files
     "cwd": "/app", "env": {...}, "argv": [...]}

Every existing mount is remounted read-only, the writable paths become empty tmpfs owned by
the pod's group (as fsGroup makes them), the read-only volumes are bound in, then the process
drops to uid/gid with no supplementary groups, no capabilities and no_new_privs
(allowPrivilegeEscalation: false) and execs the command.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

STAGE = "/run/.sandbox-stage"
SKIP = ("/proc", "/sys", "/dev")
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


def mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if not any(mp == s or mp.startswith(s + "/") for s in SKIP):
            points.append(mp)
    return points


def make_traversable(path: Path) -> None:
    """The test's interpreter may live under a root-only folder (/root/.pyenv); in the image
    it is /usr/local. Show that one child of the closed folder on an open tmpfs."""
    for parent in reversed(path.parents):
        if parent == Path("/") or os.stat(parent).st_mode & 0o001:
            continue
        child = next(p for p in [path, *path.parents] if p.parent == parent)
        stage = Path(STAGE) / "interp"
        stage.mkdir(parents=True)
        sh("mount", "--bind", str(child), str(stage))
        sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(parent))
        (parent / child.name).mkdir()
        sh("mount", "--bind", str(stage), str(parent / child.name))
        sh("mount", "-o", "remount,bind,ro", str(parent / child.name))
        sh("umount", "-l", str(stage))
        return


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    uid, gid = int(spec["uid"]), int(spec["gid"])
    for mp in mount_points():
        subprocess.run(["mount", "-o", "remount,bind,ro", mp], check=False)
    # /run: a fresh tmpfs for the read-only volumes (Secrets, CAs) and a staging area
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "tmpfs", "/run")
    for target, source in spec["mounts"].items():
        t = Path(target)
        if not t.is_relative_to("/run"):
            raise SystemExit(f"read-only volume {target} must be under /run in this sandbox")
        t.mkdir(parents=True, exist_ok=True)
        sh("mount", "--bind", source, target)
        sh("mount", "-o", "remount,bind,ro", target)
    for target, source in spec.get("binds", {}).items():  # single files (a Unix socket)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).touch()
        sh("mount", "--bind", source, target)
    make_traversable(Path(sys.base_prefix))
    # the code under test (the checkout and its venv) stays visible, read-only, even when it
    # lives under a path that becomes an emptyDir here (a CI clone under /tmp)
    code = {Path(spec["cwd"]).resolve(), Path(sys.prefix).resolve()}
    code = {c for c in code if not any(c != o and c.is_relative_to(o) for o in code)}
    done: list[Path] = []
    for w in spec["writable"]:
        p = Path(w)
        kept = [c for c in sorted(code) if c.is_relative_to(p) and c != p]
        staged: list[tuple[Path, Path]] = []
        for i, c in enumerate(kept):
            stage = Path(f"/run/.kept-{len(staged)}-{i}")
            stage.mkdir(parents=True)
            sh("mount", "--bind", str(c), str(stage))
            staged.append((c, stage))
        if any(p.is_relative_to(d) for d in done):
            p.mkdir(parents=True, exist_ok=True)  # a volume inside another: the kubelet's mkdir
        elif not p.exists():
            # a path the image makes (WORKDIR, install -d): its parent becomes a tmpfs here
            sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(p.parent))
            p.mkdir()
        sh("mount", "-t", "tmpfs", "-o", f"mode=2770,gid={gid},size=256m", "tmpfs", w)
        os.chown(w, 0, gid)
        done.append(p)
        for c, stage in staged:
            for parent in reversed(c.relative_to(p).parents[:-1]):
                (p / parent).mkdir(exist_ok=True)
                os.chmod(p / parent, 0o755)
            c.mkdir(exist_ok=True)
            sh("mount", "--bind", str(stage), str(c))
            sh("mount", "-o", "remount,bind,ro", str(c))
            sh("umount", "-l", str(stage))
    if Path("/tmp") in {Path(w) for w in spec["writable"]}:
        os.chmod("/tmp", 0o1777)
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # capabilities: drop ALL
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("no_new_privs refused")
    os.chdir(spec["cwd"])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main()
