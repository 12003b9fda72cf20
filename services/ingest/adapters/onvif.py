"""ONVIF via onvif-zeep-async: device information, clock, and pull-point events.

Device management (GetSystemDateAndTime -- unauthenticated per the ONVIF Core spec, so the
clock offset is measured even with a wrong password -- and GetDeviceInformation, which
proves the credentials). Events come from a pull-point subscription kept per device:
tns1:VideoSource/SignalLoss (video loss) and tns1:RuleEngine/TamperDetector/Tamper or
tns1:VideoSource/GlobalSceneChange (tampering). ONVIF Profile S says nothing about disks or
recordings, so those fields stay None (not measured) for ONVIF-only cameras.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .base import AuthFailed as _AuthFailed
from .base import (
    BadResponse,
    DeviceError,
    DeviceEvent,
    DeviceTarget,
    NoAnswer,
    ProbeResult,
    SegmentListing,
    Unreachable,
    failed_result,
    utcnow,
)

EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
PULLPOINT_NS = EVENTS_NS + "/PullPointSubscription"
_TOPIC_KIND = {
    "VideoSource/SignalLoss": "video_loss",
    "RuleEngine/TamperDetector/Tamper": "tamper",
    "VideoSource/GlobalSceneChange/ImagingService": "scene_change",
    "VideoSource/ImageTooDark/ImagingService": "tamper",
    "VideoSource/ImageTooBlurry/ImagingService": "tamper",
}


def topic_kind(topic: str) -> str:
    """'tns1:VideoSource/SignalLoss' (any prefix) -> vendor-neutral kind."""
    bare = topic.split(":", 1)[-1].strip()
    return _TOPIC_KIND.get(bare, "other")


def _simple_items(message: Any) -> tuple[dict[str, str], Any]:
    """SimpleItems of a tt:Message and its UtcTime, from an lxml element or a zeep object."""
    items: dict[str, str] = {}
    if hasattr(message, "iter"):  # raw element (zeep leaves unknown types as XML)
        for el in message.iter():
            if isinstance(el.tag, str) and el.tag.endswith("SimpleItem"):
                items[el.get("Name", "")] = el.get("Value", "")
        return items, message.get("UtcTime")
    for part in ("Source", "Key", "Data"):
        block = getattr(message, part, None)
        for it in (getattr(block, "SimpleItem", None) or []) if block is not None else []:
            items[str(it.Name)] = str(it.Value)
    return items, getattr(message, "UtcTime", None)


def parse_notification(topic: str, message: Any) -> DeviceEvent:
    """One wsnt:NotificationMessage (topic text + tt:Message) -> DeviceEvent."""
    if message is None:
        raise BadResponse(f"ONVIF event {topic!r}: no tt:Message element")
    items, utc = _simple_items(message)
    if "State" not in items and "IsTamper" not in items:
        raise BadResponse(f"ONVIF event {topic!r}: no State in tt:Message Data")
    token = items.get("VideoSourceToken") or items.get("Source") or "1"
    digits = "".join(ch for ch in token if ch.isdigit())
    state = items.get("State", items.get("IsTamper", "false")).lower() == "true"
    if isinstance(utc, dt.datetime):
        at = utc
    else:
        try:
            at = dt.datetime.fromisoformat(str(utc)) if utc else utcnow()
        except ValueError:
            at = utcnow()
    return DeviceEvent(
        kind=topic_kind(topic),  # type: ignore[arg-type]
        channel=int(digits[-3:]) if digits else 1,
        active=state,
        at=at,
        vendor_code=topic,
    )


def _fault_to_error(exc: BaseException, what: str) -> DeviceError:
    import aiohttp
    import zeep.exceptions
    from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError

    if isinstance(exc, zeep.exceptions.Fault):
        detail = f"{exc.message} {exc.subcodes or ''} {exc.code or ''}"
        if "NotAuthorized" in detail or "not authorized" in detail.lower():
            return _AuthFailed(f"{what}: device refused the credentials (ter:NotAuthorized)")
        return BadResponse(f"{what}: SOAP fault {exc.message}")
    if isinstance(exc, ONVIFAuthError):
        return _AuthFailed(f"{what}: device refused the credentials")
    if isinstance(exc, ONVIFTimeoutError | TimeoutError):
        return NoAnswer(f"{what}: no answer")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return Unreachable(f"{what}: {exc}")
    if isinstance(exc, ONVIFError):
        text = str(exc)
        if any(s in text for s in ("Cannot connect", "Connect call failed", "disconnected")):
            return Unreachable(f"{what}: {text[:200]}")
        return BadResponse(f"{what}: {text[:200]}")
    if isinstance(exc, zeep.exceptions.Error | ValueError | AttributeError | TypeError):
        return BadResponse(f"{what}: unreadable SOAP response ({type(exc).__name__}: {exc})"[:300])
    return BadResponse(f"{what}: {type(exc).__name__}: {exc}"[:300])


@dataclass
class _Device:
    cam: Any
    pullpoint: Any = None
    alarms: dict[tuple[str, int], bool] = field(default_factory=dict)


class OnvifAdapter:
    protocol = "onvif"

    def __init__(self, timeout_s: float = 5.0, max_devices: int = 2000) -> None:
        self.timeout_s = timeout_s
        self.max_devices = max_devices
        self._devices: OrderedDict[tuple[str, int, str], _Device] = OrderedDict()
        self._setup = asyncio.Semaphore(2)

    async def _device(self, target: DeviceTarget) -> _Device:
        from onvif import ONVIFCamera

        creds = target.credentials
        key = (target.host, target.port, creds.username if creds else "")
        d = self._devices.get(key)
        if d is None:
            cam = ONVIFCamera(
                target.host,
                target.port,
                creds.username if creds else None,
                creds.password if creds else None,
                no_cache=True,
            )
            d = _Device(cam)
            self._devices[key] = d
            while len(self._devices) > self.max_devices:
                _, old = self._devices.popitem(last=False)
                await old.cam.close()
        self._devices.move_to_end(key)
        return d

    async def _drop(self, target: DeviceTarget) -> None:
        for key in [k for k in self._devices if k[:2] == (target.host, target.port)]:
            await self._devices.pop(key).cam.close()

    async def probe(self, target: DeviceTarget, *, deep: bool = False) -> ProbeResult:
        started = utcnow()
        if (
            target.host,
            target.port,
            target.credentials.username if target.credentials else "",
        ) not in self._devices:
            # First contact builds zeep clients from the WSDLs (~25 ms of CPU per device):
            # a few at a time, so a fleet's first round does not starve the event loop.
            async with self._setup:
                return await self._probe(target, started)
        return await self._probe(target, started)

    async def _probe(self, target: DeviceTarget, started: dt.datetime) -> ProbeResult:
        latency: float | None = None
        step = "GetSystemDateAndTime"
        result = ProbeResult(target.camera_id, started, reachable=False)
        try:
            async with asyncio.timeout(self.timeout_s * 3):
                d = await self._device(target)
                mgmt = await d.cam.create_devicemgmt_service()
                t_send = time.time()
                sdt = await mgmt.GetSystemDateAndTime()
                t_recv = time.time()
                latency = (t_recv - t_send) * 1000
                u = sdt.UTCDateTime
                dev_now = dt.datetime(
                    u.Date.Year,
                    u.Date.Month,
                    u.Date.Day,
                    u.Time.Hour,
                    u.Time.Minute,
                    u.Time.Second,
                    tzinfo=dt.UTC,
                )
                offset = dev_now.timestamp() + 0.5 - (t_send + t_recv) / 2
                result.reachable = True
                result.latency_ms = round(latency, 2)
                result.clock_offset_s = round(offset, 3)
                step = "GetDeviceInformation"
                info = await mgmt.GetDeviceInformation()
                result.auth_ok = True
                result.device_model = f"{info.Manufacturer} {info.Model}"
                step = "PullMessages"
                events = await self._pull(d, target)
                result.events = events
                result.streaming = not d.alarms.get(("video_loss", target.channel), False)
                result.alarms = sorted(
                    k
                    for (k, ch), on in d.alarms.items()
                    if on and ch == target.channel and k != "heartbeat"
                )
                return result
        except DeviceError as exc:
            await self._drop(target)
            return failed_result(target, started, exc, partial=result)
        except Exception as exc:  # zeep/aiohttp/onvif raise many types; all are device trouble
            await self._drop(target)
            return failed_result(
                target, started, _fault_to_error(exc, f"ONVIF {step}"), partial=result
            )

    async def _pull(self, d: _Device, target: DeviceTarget) -> list[DeviceEvent]:
        cam = d.cam
        if d.pullpoint is None:
            cam.xaddrs[EVENTS_NS] = f"http://{target.host}:{target.port}/onvif/event_service"
            events_svc = await cam.create_events_service()
            sub = await events_svc.CreatePullPointSubscription({"InitialTerminationTime": "PT10M"})
            cam.xaddrs[PULLPOINT_NS] = sub.SubscriptionReference.Address._value_1
            d.pullpoint = await cam.create_pullpoint_service()
        resp = await d.pullpoint.PullMessages({"Timeout": "PT0S", "MessageLimit": 64})
        out = []
        for m in resp.NotificationMessage or []:
            topic = getattr(m.Topic, "_value_1", "") or ""
            ev = parse_notification(str(topic), getattr(m.Message, "_value_1", None))
            d.alarms[(ev.kind, ev.channel)] = ev.active
            out.append(ev)
        return out

    async def list_segments(
        self, target: DeviceTarget, start: dt.datetime, end: dt.datetime, *, limit: int = 0
    ) -> SegmentListing:
        return SegmentListing([], error="ONVIF Profile S device: recordings are listed on its NVR")

    async def close(self) -> None:
        while self._devices:
            _, d = self._devices.popitem()
            await d.cam.close()
