"""Playback adapters behind one interface (`Recorder`), and the choice of adapter per camera.

The inventory says where a camera's footage lives: its `nvr_id` and `channel` (and its
`brand`). `RECORDERS` (media's settings) describes each recorder: its dialect and addresses.
A camera whose recorder is described is fetched from it — in the recorder's dialect, or, when
the recorder names none, in the camera's brand (Hikvision → ISAPI, Dahua → Dahua playback,
anything else → ONVIF replay). Any other camera is fetched from the default ONVIF replay
recorder (`REPLAY_URL_TEMPLATE`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cctv.contract import CameraRecord
from cctv.plumbing.urls import without_login

from .base import Footage, RecordedFrame, Recorder, ReplayError
from .dahua import DahuaPlayback
from .hikvision import HikvisionIsapi
from .onvif import PLACEHOLDERS, OnvifReplay, ReplayClient, template_problem

__all__ = [
    "PLACEHOLDERS",
    "DahuaPlayback",
    "Footage",
    "HikvisionIsapi",
    "OnvifReplay",
    "RecordedFrame",
    "Recorder",
    "RecorderConfig",
    "RecorderDirectory",
    "ReplayClient",
    "ReplayError",
    "load_recorders",
    "template_problem",
]

Dialect = Literal["onvif", "hikvision", "dahua"]
BRAND_DIALECT: dict[str, Dialect] = {"hikvision": "hikvision", "dahua": "dahua"}


class RecorderConfig(BaseModel):
    """One recorder (NVR) of the campus, keyed by the inventory's `nvr_id`."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    brand: Dialect | None = None  # None: each camera's brand decides
    # Hikvision ISAPI; Dahua's HTTP API (mediaFileFind), optional
    http_url: str = Field(default="", pattern=r"^(https?://[^\s@/]+/?)?$")
    rtsp_url: str = Field(default="", pattern=r"^(rtsp://[^\s@/]+/?)?$")  # Dahua; Hikvision NAT
    # ONVIF: rtsp://host/...{camera_id} and/or {channel}, checked at start (template_problem)
    replay_url_template: str = ""
    username: str = ""  # "" = REPLAY_USERNAME
    password: str = ""  # "" = REPLAY_PASSWORD
    password_file: str = ""  # a mounted secret holding the password (Kubernetes), read at start
    timezone: str = "Asia/Shanghai"  # Dahua URLs are in the recorder's local time

    @field_validator("replay_url_template")
    @classmethod
    def _template(cls, v: str, info: ValidationInfo) -> str:
        """Refused when read, not at the first export that would fill it in."""
        why = template_problem(v) if v else None
        if why:
            rec = info.data.get("id")
            raise ValueError(f"recorder {rec or '(no id)'}: {without_login(v)!r} {why}")
        return v

    @model_validator(mode="after")
    def _addresses(self) -> RecorderConfig:
        need = {"hikvision": "http_url", "dahua": "rtsp_url", "onvif": "replay_url_template"}
        if self.brand is not None and not getattr(self, need[self.brand]):
            raise ValueError(f"a {self.brand} recorder needs {need[self.brand]}")
        if self.password_file:
            if self.password:
                raise ValueError("give password or password_file, not both")
            try:
                self.password = Path(self.password_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read password_file {self.password_file}: {exc}") from exc
        return self


def load_recorders(value: str) -> dict[str, RecorderConfig]:
    """`RECORDERS`: a JSON list of recorders, inline or in a file; "" = none."""
    text = value.strip()
    if not text:
        return {}
    if not text.startswith(("[", "{")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"RECORDERS: cannot read {value!r}: {exc}") from exc
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"RECORDERS is not a JSON list of recorders: {exc}") from exc
    if not isinstance(rows, list):
        raise ValueError("RECORDERS must be a JSON list of recorders")
    out: dict[str, RecorderConfig] = {}
    for i, row in enumerate(rows):
        try:
            rec = RecorderConfig.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            where = f" {where}" if where else ""
            raise ValueError(f"RECORDERS[{i}]{where}: {first['msg']}") from exc
        if rec.id in out:
            raise ValueError(f"RECORDERS[{i}]: recorder {rec.id!r} is listed twice")
        out[rec.id] = rec
    return out


class RecorderDirectory:
    """Which adapter fetches which camera's footage, from the inventory and `RECORDERS`."""

    def __init__(
        self,
        recorders: dict[str, RecorderConfig],
        default: Recorder,
        lookup: Callable[[str], CameraRecord | None],
        *,
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
        reload_from: Path | None = None,
    ) -> None:
        self.recorders = recorders
        # RECORDERS given as a file is read again when it changes: NIC edits it, or the demo's
        # recorders restart on new ports, without restarting media
        self.reload_from = reload_from
        self._stamp = self._file_stamp()
        self.default = default
        self.lookup = lookup
        self.username = username
        self.password = password
        self.timeout = timeout

    @classmethod
    def from_setting(
        cls, value: str, default: Recorder, lookup: Callable[[str], CameraRecord | None], **kw: Any
    ) -> RecorderDirectory:
        """From media's RECORDERS setting (inline JSON, or a file followed for changes)."""
        text = value.strip()
        path = Path(text) if text and not text.startswith(("[", "{")) else None
        return cls(load_recorders(value), default, lookup, reload_from=path, **kw)

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.reload_from is None:
            return None
        try:
            st = self.reload_from.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _refresh(self) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        try:
            self.recorders = load_recorders(str(self.reload_from))
        except ValueError as exc:
            raise ReplayError(f"{exc} (media keeps failing these jobs until it is fixed)") from exc
        self._stamp = stamp

    def choose(self, camera_id: str) -> tuple[Recorder, Footage]:
        self._refresh()
        cam = self.lookup(camera_id)
        rec = self.recorders.get(cam.nvr_id or "") if cam is not None else None
        if cam is None or rec is None:
            return self.default, Footage(camera_id, cam.channel if cam else None)
        footage = Footage(camera_id, cam.channel)
        dialect = rec.brand or BRAND_DIALECT.get(cam.brand, "onvif")
        user = rec.username or self.username
        password = rec.password or self.password
        if dialect == "hikvision":
            if not rec.http_url:
                raise ReplayError(f"recorder {rec.id}: a Hikvision recorder needs http_url")
            return HikvisionIsapi(
                rec.http_url, user, password, rec.rtsp_url, timeout=self.timeout
            ), footage
        if dialect == "dahua":
            if not rec.rtsp_url:
                raise ReplayError(f"recorder {rec.id}: a Dahua recorder needs rtsp_url")
            return DahuaPlayback(
                rec.rtsp_url, user, password, rec.timezone, timeout=self.timeout,
                http_url=rec.http_url,
            ), footage  # fmt: skip
        if not rec.replay_url_template:
            raise ReplayError(f"recorder {rec.id}: an ONVIF recorder needs replay_url_template")
        return OnvifReplay(
            rec.replay_url_template, user or None, password or None, self.timeout
        ), footage
