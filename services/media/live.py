"""Live viewing for the duty room and the patrols (Art. 13-14), bounded by role and zone.

Why here and not in the page: the console only shows; media decides what it streams, so a
guard who edits the page still gets only the cameras of their own zone. The camera's zone,
department and stream come from ingest's inventory events (`camera.upserted`), which media
holds in memory (`cctv.plumbing.inventory`, the view the recorders use too; ADR 0022).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import av

from cctv.contract import CameraRecord
from cctv.contract.orgs import LIVE_ROLES, Role
from cctv.plumbing.identity import Identity

ZONED = (Role.GUARD.value, Role.GATEKEEPER.value)


@dataclass(frozen=True)
class LiveRefusal:
    code: str
    zh: str
    en: str
    article: str


def may_watch_live(who: Identity, cam: CameraRecord) -> LiveRefusal | None:
    """None when `who` may watch `cam` live; else why not.

    Guards and gatekeepers: the cameras of their own zone. Duty operators: their zone when
    the directory gives them one, else the cameras their department runs or manages (the
    duty room of the security office watches the public areas, Art. 13). Nobody else: viewing
    footage needs a grant (Art. 15-16)."""
    if not who.has(*LIVE_ROLES):
        return LiveRefusal(
            "live_not_permitted",
            "实时画面仅限监控值班人员及责任区域内的巡逻人员、门卫查看；其他查看须经审批",
            "live footage is for duty operators and the patrols of the zone; anyone else "
            "needs an approved access request",
            "Art. 15",
        )
    if who.has(*ZONED) and not who.has(Role.OPERATOR.value):
        if who.zone and who.zone == cam.zone:
            return None
    elif who.zone:
        if who.zone == cam.zone:
            return None
    elif who.department and who.department in (cam.department, cam.managing_department):
        return None
    return LiveRefusal(
        "outside_zone",
        f"摄像机 {cam.camera_id}（{cam.zone}）不在您的值班区域内",
        f"camera {cam.camera_id} ({cam.zone}) is outside your zone or duty area",
        "Art. 13",
    )


def default_login(secrets_dir: Path | None) -> tuple[str, str] | None:
    """The devices' default login (`cctv-device-default`: user:password), as ingest reads it."""
    if secrets_dir is None:
        return None
    path = secrets_dir / "cctv-device-default"
    try:
        user, _, password = path.read_text(encoding="utf-8").strip().partition(":")
    except OSError:
        return None
    return (user, password) if user else None


def with_login(url: str, login: tuple[str, str] | None) -> str:
    """The stream URL with the login in it (ffmpeg answers the RTSP digest challenge)."""
    if login is None:
        return url
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return url
    auth = f"{quote(login[0], safe='')}:{quote(login[1], safe='')}@"
    return urlunsplit(parts._replace(netloc=auth + parts.netloc))


class LiveReader:
    """Reads a camera's RTSP stream in a thread (PyAV/ffmpeg), hands every decoded frame,
    watermarked, to `deliver` on the event loop; stops when asked or the stream ends."""

    def __init__(
        self,
        url: str,
        mark: Callable[[av.VideoFrame], av.VideoFrame],
        deliver: Callable[[av.VideoFrame | None, str], None],
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.mark = mark
        self.deliver = deliver
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="media-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _emit(self, frame: av.VideoFrame | None, why: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.deliver, frame, why)

    def _run(self) -> None:
        why = "ended"
        container: Any = None
        try:
            container = av.open(
                self.url,
                options={"rtsp_transport": "tcp", "timeout": str(int(self.timeout_s * 1e6))},
                timeout=self.timeout_s,
            )
            for frame in container.decode(video=0):
                if self._stop.is_set():
                    why = "stopped"
                    break
                self._emit(self.mark(frame), "")
        except Exception as exc:  # the camera went away: the viewer is told, nothing crashes
            why = f"stream: {type(exc).__name__}: {exc}"[:300]
        finally:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
            self._emit(None, why)
