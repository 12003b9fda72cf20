"""ONVIF (Profile S) over the fleet's HTTP pool: clock, credentials, streams, events.

Why by hand and not zeep: a probe is a handful of small SOAP calls; building zeep clients
from WSDLs cost ~25 ms of CPU per device and leaked sessions, parsed unbounded bodies on the
event loop, and put parser internals into error texts. Here every call goes through
`DeviceHttp` (size cap, timeouts, one connection pool), the answer through the safe,
namespace-blind XML reader, and every failure is a sentence about the device.

Calls (ONVIF Core / Media / Events specifications): GetSystemDateAndTime (pre-auth per Core
5.9.1, so the clock offset is measured even with a wrong password; sent unsigned first),
GetDeviceInformation (proves the credentials), GetServices or, on older devices,
GetCapabilities (which services exist and their XAddr), Media GetProfiles + GetStreamUri
(where the stream is: cached per camera, found again when a frame check fails), and
Events CreatePullPointSubscription + PullMessages only where the device advertises an event
service ("not supported" is remembered): tns1:VideoSource/SignalLoss (video loss) and
tns1:RuleEngine/TamperDetector/Tamper or tns1:VideoSource/GlobalSceneChange (tampering).
Every call but the clock carries WS-Security UsernameToken PasswordDigest, its Created on the
device's clock (the offset last read; read again when a device refuses the token).
Tiers (ADR 0032): a shallow probe is one signed call, the pull where the device has events
(else GetDeviceInformation); GetSystemDateAndTime and GetDeviceInformation are read on
facts and deep probes, and whenever the offset is not known. Profile S says
nothing about disks or recordings: those fields stay None (not measured). Where the device
advertises the Recording Control service (Profile G), deep probes read Art. 12 arming:
GetRecordingJobs (the job recording the camera's media profile, Mode "Active" or "Idle") and,
for an active job, GetRecordingJobState (State "Active"/"PartiallyActive" is recording,
"Idle"/"Error" is not).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from cctv.contract.campustime import parse_instant
from cctv.plumbing.urls import without_login

from .base import (
    AuthFailed,
    BadResponse,
    DeviceError,
    DeviceEvent,
    DeviceTarget,
    ProbeResult,
    SegmentListing,
    failed_result,
    utcnow,
)
from .http import DeviceHttp, HttpSettings
from .xmlutil import child, children, descendants, local, parse_xml, text

T = TypeVar("T")
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
            at = parse_instant(str(utc), "UtcTime", naive="utc") if utc else utcnow()
        except ValueError:
            at = utcnow()
    return DeviceEvent(
        kind=topic_kind(topic),  # type: ignore[arg-type]
        channel=int(digits[-3:]) if digits else 1,
        active=state,
        at=at,
        vendor_code=topic,
    )


SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
RECORDING_NS = "http://www.onvif.org/ver10/recording/wsdl"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
DEVICE_PATH = "/onvif/device_service"  # ONVIF Core: the device service's well-known path
SOAP_TYPES = ("application/soap+xml", "text/xml", "application/xml")


def username_token(username: str, password: str, created: dt.datetime) -> str:
    """WS-Security UsernameToken with PasswordDigest = Base64(SHA-1(nonce + created + pw))."""
    nonce = secrets.token_bytes(16)
    stamp = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = base64.b64encode(
        hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()
    ).decode()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}" s:mustUnderstand="1">'
        f"<wsse:UsernameToken><wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{TOKEN_PROFILE}#PasswordDigest">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{WSSE_NS.rsplit("-", 1)[0]}-soap-message-security-1.0'
        f'#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, security: str = "") -> bytes:
    header = f"<s:Header>{security}</s:Header>" if security else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}" '
        f'xmlns:tds="{DEVICE_NS}" xmlns:trt="{MEDIA_NS}" xmlns:tt="{SCHEMA_NS}" '
        f'xmlns:tev="{EVENTS_NS}" xmlns:trc="{RECORDING_NS}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def read_answer(body: bytes, op: str) -> etree._Element:
    """The <opResponse> element of a SOAP answer; a fault or anything else in plain words."""
    what = f"ONVIF {op}"
    root = parse_xml(body, what)
    if local(root) != "Envelope":
        raise BadResponse(f"{what}: the device did not answer in SOAP (got <{local(root)}>)")
    soap_body = child(root, "Body")
    if soap_body is None:
        raise BadResponse(f"{what}: SOAP answer without a Body")
    fault = child(soap_body, "Fault")
    if fault is not None:
        codes = " ".join(
            (v.text or "") for v in descendants(fault, "Value") if isinstance(v.tag, str)
        )
        reason = (text(fault, "Text") or text(fault, "faultstring") or "").strip()[:120]
        if "NotAuthorized" in codes or "FailedAuthentication" in codes:
            raise AuthFailed(f"{what}: the device refused the credentials (NotAuthorized)")
        if "MessageExpired" in codes:  # WS-Security: our UsernameToken's Created is off its clock
            raise AuthFailed(f"{what}: the device refused the token's time (MessageExpired)")
        raise BadResponse(f"{what}: the device answered with a SOAP fault ({reason or codes})")
    want = f"{op}Response"
    for el in soap_body:
        if local(el) == want:
            return el
    raise BadResponse(f"{what}: the answer has no {want}")


def parse_clock(resp: etree._Element) -> dt.datetime:
    """UTCDateTime of GetSystemDateAndTimeResponse; an impossible date is the device's fault."""
    utc = next(iter(descendants(resp, "UTCDateTime")), None)
    if utc is None:
        raise BadResponse("ONVIF GetSystemDateAndTime: the device gives no UTC time")
    parts = {k: text(utc, k) for k in ("Year", "Month", "Day", "Hour", "Minute", "Second")}
    try:
        values = {k: int(v or "") for k, v in parts.items()}
        return dt.datetime(
            values["Year"],
            values["Month"],
            values["Day"],
            values["Hour"],
            values["Minute"],
            values["Second"],
            tzinfo=dt.UTC,
        )
    except ValueError:
        shown = "{Year}-{Month}-{Day} {Hour}:{Minute}:{Second}".format(**parts)
        raise BadResponse(
            f"ONVIF GetSystemDateAndTime: the device's clock reads an impossible time ({shown})"
        ) from None


def parse_services(resp: etree._Element) -> dict[str, str]:
    """GetServicesResponse -> {namespace: XAddr}."""
    out: dict[str, str] = {}
    for svc in descendants(resp, "Service"):
        ns, xaddr = text(svc, "Namespace"), text(svc, "XAddr")
        if ns and xaddr:
            out[ns] = xaddr
    return out


def parse_capabilities(resp: etree._Element) -> dict[str, str]:
    """GetCapabilitiesResponse -> {namespace: XAddr} for media and events."""
    out: dict[str, str] = {}
    for name, ns in (("Device", DEVICE_NS), ("Media", MEDIA_NS), ("Events", EVENTS_NS)):
        block = next(iter(descendants(resp, name)), None)
        xaddr = text(block, "XAddr") if block is not None else None
        if xaddr:
            out[ns] = xaddr
    return out


def parse_profiles(resp: etree._Element) -> list[tuple[str, str]]:
    """GetProfilesResponse -> [(profile token, video source token)] in the device's order."""
    out = []
    for prof in descendants(resp, "Profiles"):
        token = prof.get("token")
        vsc = child(prof, "VideoSourceConfiguration")
        source = text(vsc, "SourceToken") if vsc is not None else None
        if token and source:
            out.append((token, source))
    return out


def profile_for(profiles: list[tuple[str, str]], channel: int) -> str | None:
    """The first (main) profile of the camera's video source: the source whose token carries
    the channel number (NVRs name them VideoSource_<n>), else the channel-th source, else
    the only one (a single camera addressed by its recorder's channel number)."""
    sources: list[str] = []
    for _, src in profiles:
        if src not in sources:
            sources.append(src)
    numbered = [
        s for s in sources if "".join(ch for ch in s if ch.isdigit()).lstrip("0") == str(channel)
    ]
    if numbered:
        want = numbered[0]
    elif 0 < channel <= len(sources):
        want = sources[channel - 1]
    elif len(sources) == 1:
        want = sources[0]
    else:
        return None
    return next(tok for tok, src in profiles if src == want)


def parse_stream_uri(resp: etree._Element) -> str:
    uri = text(resp, "Uri")
    parts = urlsplit(uri or "")
    if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
        shown = None if uri is None else without_login(uri)
        raise BadResponse(f"ONVIF GetStreamUri: not an rtsp:// stream address ({shown!r:.80})")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep credentials a device put in it
    return parts._replace(netloc=netloc, fragment="").geturl()


@dataclass(frozen=True)
class RecordingJob:
    """One item of GetRecordingJobsResponse: its token, Mode and the profile tokens it records."""

    token: str
    mode: str
    sources: tuple[str, ...]


def parse_recording_jobs(resp: etree._Element) -> list[RecordingJob]:
    """GetRecordingJobsResponse -> its JobItems. Mode is "Active" or "Idle" (ONVIF Recording
    Control: the only valid values); anything else is the device's fault."""
    jobs = []
    for item in descendants(resp, "JobItem"):
        token = text(item, "JobToken")
        cfg = child(item, "JobConfiguration")
        mode = text(cfg, "Mode") if cfg is not None else None
        if not token or mode not in ("Active", "Idle"):
            raise BadResponse(
                f"ONVIF GetRecordingJobs: a job without a token or with Mode {mode!r} "
                "(must be Active or Idle)"
            )
        # tt:RecordingJobSource/SourceToken is a tt:SourceReference: <Token> inside it
        sources = [
            text(ref, "Token") or ""
            for src in children(cfg, "Source")
            for ref in children(src, "SourceToken")
        ]
        jobs.append(RecordingJob(token, mode, tuple(s for s in sources if s)))
    return jobs


def parse_recording_job_state(resp: etree._Element) -> str:
    """GetRecordingJobStateResponse -> the aggregated State (Idle, Active, PartiallyActive,
    Error)."""
    info = child(resp, "State")  # trc:State, a tt:RecordingJobStateInformation
    inner = child(info, "State") if info is not None else None
    value = (inner.text or "").strip() if inner is not None else ""
    if not value:
        raise BadResponse("ONVIF GetRecordingJobState: the answer has no State")
    return value


def job_for(jobs: list[RecordingJob], profile: str | None, sources: int) -> list[RecordingJob]:
    """The jobs recording the camera's profile; a device with one video source and jobs that
    name no profile (a receiver, AutoCreateReceiver) records that one source."""
    if profile is not None:
        mine = [j for j in jobs if profile in j.sources]
        if mine:
            return mine
    if sources == 1 and jobs:
        return jobs
    return []


@dataclass
class _Device:
    """What one device told us, kept between probes."""

    services: dict[str, str] | None = None  # namespace -> XAddr; None: not asked yet
    pullpoint: str | None = None  # subscription address
    events_supported: bool | None = None
    alarms: dict[tuple[str, int], bool] = field(default_factory=dict)
    # device clock minus ours, for WS-Security Created; None: not known (read it first)
    offset_s: float | None = None


class OnvifAdapter:
    protocol = "onvif"

    def __init__(
        self,
        timeout_s: float = 5.0,
        max_devices: int = 20000,
        http: DeviceHttp | None = None,
        stream_check: Any = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_devices = max_devices
        self._own_http = http is None
        self.http = http or DeviceHttp(
            HttpSettings(connect_timeout_s=timeout_s, read_timeout_s=timeout_s)
        )
        self._devices: OrderedDict[tuple[str, int], _Device] = OrderedDict()
        self.streams: dict[str, str] = {}  # camera_id -> discovered stream URI
        self.profiles: dict[str, tuple[str, int]] = {}  # camera_id -> (profile, video sources)
        self._stale: set[str] = set()  # cameras whose stream must be discovered again
        self.discovery_errors: dict[str, str] = {}  # camera_id -> why no stream was found
        # deep probes check the discovered stream with RTSP OPTIONS + DESCRIBE
        self.stream_check = stream_check

    # ---- what the rest of ingest asks -------------------------------------------------
    def discovered(self, camera_id: str) -> str | None:
        return self.streams.get(camera_id)

    def rediscover(self, camera_id: str) -> None:
        """A frame check failed at the discovered stream: ask the device again next probe."""
        self._stale.add(camera_id)

    # ---- SOAP ---------------------------------------------------------------------------
    def _device(self, target: DeviceTarget) -> _Device:
        key = (target.host, target.port)
        d = self._devices.get(key)
        if d is None:
            d = self._devices[key] = _Device()
            while len(self._devices) > self.max_devices:
                self._devices.popitem(last=False)
        self._devices.move_to_end(key)
        return d

    def _where(self, target: DeviceTarget, xaddr: str) -> tuple[DeviceTarget, str]:
        """An XAddr's path on the device we know (its announced host may be a LAN address
        we cannot reach); its port if it names another one."""
        parts = urlsplit(xaddr)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if parts.port and parts.port != target.port:
            return dataclasses.replace(target, port=parts.port), path
        return target, path

    async def _call(
        self,
        target: DeviceTarget,
        d: _Device,
        xaddr: str,
        op: str,
        body: str,
        *,
        signed: bool = True,
    ) -> etree._Element:
        creds = target.credentials
        security = ""
        if signed and creds is not None:
            created = utcnow() + dt.timedelta(seconds=d.offset_s or 0.0)
            security = username_token(creds.username, creds.password, created)
        where, path = self._where(target, xaddr)
        # HTTP digest is left to the pool as a fallback only for devices that ask for it
        reply = await self.http.request(
            dataclasses.replace(where, credentials=creds if signed else None),
            "POST",
            path,
            data=envelope(body, security),
            content_type="application/soap+xml; charset=utf-8",
            allow_error_status=True,
        )
        if reply.content_type and reply.content_type not in SOAP_TYPES:
            what = "an HTML page (a login page?)" if "html" in reply.content_type else ""
            raise BadResponse(
                f"ONVIF {op}: the device answered {what or repr(reply.content_type)}, not SOAP"
            )
        if reply.status >= 400 and not reply.body.strip():
            raise BadResponse(f"ONVIF {op}: HTTP {reply.status} with no SOAP fault")
        return read_answer(reply.body, op)

    # ---- the probe ----------------------------------------------------------------------
    async def probe(
        self, target: DeviceTarget, *, deep: bool = False, facts: bool = True
    ) -> ProbeResult:
        """Every probe is one signed call where the device is known: the events pull where
        it offers events (answers, takes our credentials, latency, video loss), else
        GetDeviceInformation. `facts` (and `deep`) add GetSystemDateAndTime (the clock
        offset) and GetDeviceInformation (the model); the clock is read first as well
        whenever the WS-Security offset is not known (the first probe, after an error)."""
        started = utcnow()
        result = ProbeResult(target.camera_id, started, reachable=False)
        d = self._device(target)
        facts = facts or deep
        try:
            if facts or d.offset_s is None:
                await self._read_clock(target, d, result)
            pull = (
                d.services is not None
                and bool(d.services.get(EVENTS_NS))
                and d.events_supported is not False
            )
            if facts or not pull:
                t0 = time.perf_counter()
                info = await self._reclocked(
                    target, d, result, lambda: self._device_info(target, d)
                )
                self._answered(result, t0)
                result.device_model = (
                    f"{text(info, 'Manufacturer') or ''} {text(info, 'Model') or ''}"
                )
            if d.services is None:
                d.services = await self._services(target, d)
            # where the stream is: found on deep probes, when a frame check failed there, and
            # when unknown (a camera whose device would not say is asked on facts probes)
            unknown = target.camera_id not in self.streams and (
                facts or target.camera_id not in self.discovery_errors
            )
            if target.stream_url is None and (deep or unknown or target.camera_id in self._stale):
                try:
                    await self._discover_stream(target, d)
                except AuthFailed:
                    raise
                except DeviceError as exc:  # the camera answers: no stream address is no
                    # outage; its frame check says "stream address unknown" with this reason
                    self.discovery_errors[target.camera_id] = str(exc)
            if deep and self.stream_check is not None:
                result.streaming = await self._stream_ok(target)
            if deep and d.services.get(RECORDING_NS):
                await self._arming(target, d, result)
            if d.services.get(EVENTS_NS) and d.events_supported is not False:
                if result.auth_ok:  # the credentials are proven: events are extra
                    await self._events(target, d, result)
                else:  # the pull is this probe's one call: it answers for the camera
                    await self._events_or_info(target, d, result)
            return result
        except DeviceError as exc:
            d.services = None  # ask again next time: the device may have changed
            d.pullpoint = None
            d.offset_s = None  # and read its clock first: it may have been reset
            return failed_result(target, started, exc, partial=result)

    @staticmethod
    def _answered(result: ProbeResult, t0: float) -> None:
        """A signed call answered: the device is there and takes our credentials."""
        result.reachable, result.auth_ok = True, True
        if result.latency_ms is None:
            result.latency_ms = round((time.perf_counter() - t0) * 1000, 2)

    async def _read_clock(self, target: DeviceTarget, d: _Device, result: ProbeResult) -> None:
        """GetSystemDateAndTime: the clock offset, remembered for WS-Security's Created."""
        t_send = time.time()
        try:
            resp = await self._call(
                target, d, DEVICE_PATH, "GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>",
                signed=False,
            )  # fmt: skip
        except AuthFailed:  # a device that wants even this call signed
            resp = await self._call(
                target, d, DEVICE_PATH, "GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>"
            )
        t_recv = time.time()
        dev_now = parse_clock(resp)
        offset = dev_now.timestamp() + 0.5 - (t_send + t_recv) / 2
        d.offset_s = offset
        result.reachable = True
        if result.latency_ms is None:
            result.latency_ms = round((t_recv - t_send) * 1000, 2)
        result.clock_offset_s = round(offset, 3)

    async def _reclocked(
        self,
        target: DeviceTarget,
        d: _Device,
        result: ProbeResult,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        """A signed call; refused while the clock was not read in this probe, the clock is
        read again and the call made once more. Devices refuse a UsernameToken whose
        Created is off their own clock (one set back, one drifting): only a refusal with
        the offset just measured is the credentials' fault."""
        if result.clock_offset_s is not None:  # read in this probe: no second chance needed
            return await call()
        try:
            return await call()
        except AuthFailed:
            pass
        await self._read_clock(target, d, result)
        return await call()

    async def _events_or_info(self, target: DeviceTarget, d: _Device, result: ProbeResult) -> None:
        """The pull as the probe's proof: its answer is the camera answering with our
        credentials. A timeout or a dropped connection is the camera's; an answer that
        cannot be read (a subscription the device forgot, say) is asked again as
        GetDeviceInformation, and the next probe subscribes afresh."""
        t0 = time.perf_counter()
        try:
            resp = await self._reclocked(target, d, result, lambda: self._pull(target, d))
        except BadResponse:
            d.pullpoint = None
            t0 = time.perf_counter()
            await self._reclocked(target, d, result, lambda: self._device_info(target, d))
            self._answered(result, t0)
            return
        self._answered(result, t0)
        self._read_events(target, d, result, resp)

    async def _device_info(self, target: DeviceTarget, d: _Device) -> etree._Element:
        return await self._call(
            target, d, DEVICE_PATH, "GetDeviceInformation", "<tds:GetDeviceInformation/>"
        )

    async def _services(self, target: DeviceTarget, d: _Device) -> dict[str, str]:
        try:
            resp = await self._call(
                target,
                d,
                DEVICE_PATH,
                "GetServices",
                "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability>"
                "</tds:GetServices>",
            )
            found = parse_services(resp)
        except BadResponse:
            found = {}
        if MEDIA_NS not in found:  # older devices: GetCapabilities names the XAddrs
            resp = await self._call(
                target,
                d,
                DEVICE_PATH,
                "GetCapabilities",
                "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
            )
            found = {**parse_capabilities(resp), **found}
        if EVENTS_NS not in found:
            d.events_supported = False  # remembered: no error on every sample
        return found

    async def _discover_stream(self, target: DeviceTarget, d: _Device) -> None:
        media = (d.services or {}).get(MEDIA_NS)
        if media is None:
            raise BadResponse("ONVIF: the device offers no media service, so no stream address")
        profiles = parse_profiles(
            await self._call(target, d, media, "GetProfiles", "<trt:GetProfiles/>")
        )
        token = profile_for(profiles, target.channel)
        if token is None:
            raise BadResponse(
                f"ONVIF GetProfiles: no media profile for channel {target.channel} "
                f"({len(profiles)} profile(s))"
            )
        self.profiles[target.camera_id] = (token, len({src for _, src in profiles}))
        resp = await self._call(
            target,
            d,
            media,
            "GetStreamUri",
            "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
            "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
            f"<trt:ProfileToken>{escape(token)}</trt:ProfileToken></trt:GetStreamUri>",
        )
        self.streams[target.camera_id] = parse_stream_uri(resp)
        self._stale.discard(target.camera_id)
        self.discovery_errors.pop(target.camera_id, None)

    async def _stream_ok(self, target: DeviceTarget) -> bool | None:
        """RTSP OPTIONS + DESCRIBE at the discovered stream: is the stream there?"""
        from .rtsp_probe import RtspCredentials, RtspStatus

        url = target.stream_url or self.streams.get(target.camera_id)
        if url is None:
            return None
        creds = target.credentials
        r = await self.stream_check.probe(
            target.camera_id,
            url,
            RtspCredentials(creds.username, creds.password) if creds else None,
        )
        if r.status is RtspStatus.OK:
            return True
        if r.status in (RtspStatus.NOT_FOUND, RtspStatus.REFUSED, RtspStatus.NO_VIDEO):
            self._stale.add(target.camera_id)
            return False
        return None  # not measured (e.g. a timeout): the next deep probe asks again

    async def _arming(self, target: DeviceTarget, d: _Device, result: ProbeResult) -> None:
        """Art. 12: is the camera's recording job armed (Mode Active), and is it recording?
        A device that cannot say leaves both unmeasured; a wrong password is still raised."""
        xaddr = (d.services or {})[RECORDING_NS]
        try:
            jobs = parse_recording_jobs(
                await self._call(target, d, xaddr, "GetRecordingJobs", "<trc:GetRecordingJobs/>")
            )
            profile, sources = self.profiles.get(target.camera_id, (None, 0))
            mine = job_for(jobs, profile, sources)
            if not mine:  # which job records this camera is not known: not measured
                result.armed_reason = "无法确定录像任务 no recording job tied to the camera"
                return
            active = [j for j in mine if j.mode == "Active"]
            result.armed = bool(active)
            job = (active or mine)[0]
            result.armed_reason = f"录像任务 recording job {job.token} Mode {job.mode}"
            if active:
                state = parse_recording_job_state(
                    await self._call(
                        target,
                        d,
                        xaddr,
                        "GetRecordingJobState",
                        f"<trc:GetRecordingJobState><trc:JobToken>{escape(active[0].token)}"
                        "</trc:JobToken></trc:GetRecordingJobState>",
                    )
                )
                result.recording = state in ("Active", "PartiallyActive")
        except AuthFailed:
            raise
        except DeviceError as exc:
            result.armed = None
            result.armed_reason = f"布防状态无法读取 arming unreadable: {exc}"

    async def _events(self, target: DeviceTarget, d: _Device, result: ProbeResult) -> None:
        """Pull-point events where the device offers them; trouble here is not the camera's
        health (alarms stay unmeasured) and the subscription is made again next time."""
        try:
            resp = await self._pull(target, d)
        except AuthFailed:
            raise
        except DeviceError:
            d.pullpoint = None
            return
        self._read_events(target, d, result, resp)

    async def _pull(self, target: DeviceTarget, d: _Device) -> etree._Element:
        """PullMessages (subscribing first where there is no pull point yet)."""
        if d.pullpoint is None:
            sub = await self._call(
                target,
                d,
                (d.services or {})[EVENTS_NS],
                "CreatePullPointSubscription",
                "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT10M"
                "</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
            )
            ref = next(iter(descendants(sub, "SubscriptionReference")), None)
            address = text(ref, "Address") if ref is not None else None
            if not address:
                raise BadResponse("ONVIF events: subscription without an address")
            d.pullpoint = address
        return await self._call(
            target,
            d,
            d.pullpoint,
            "PullMessages",
            "<tev:PullMessages><tev:Timeout>PT0S</tev:Timeout>"
            "<tev:MessageLimit>64</tev:MessageLimit></tev:PullMessages>",
        )

    def _read_events(
        self, target: DeviceTarget, d: _Device, result: ProbeResult, resp: etree._Element
    ) -> None:
        for m in descendants(resp, "NotificationMessage"):
            topic = (text(m, "Topic") or "").strip()
            msg = next(iter(descendants(m, "Message")), None)
            inner = (
                next((c for c in msg if isinstance(c.tag, str)), None) if msg is not None else None
            )
            try:
                ev = parse_notification(topic, inner)
            except BadResponse:
                continue
            d.alarms[(ev.kind, ev.channel)] = ev.active
            result.events.append(ev)
        if result.streaming is None:
            result.streaming = not d.alarms.get(("video_loss", target.channel), False)
        result.alarms = sorted(
            k
            for (k, ch), on in d.alarms.items()
            if on and ch == target.channel and k != "heartbeat"
        )

    async def list_segments(
        self, target: DeviceTarget, start: dt.datetime, end: dt.datetime, *, limit: int = 0
    ) -> SegmentListing:
        return SegmentListing([], error="ONVIF Profile S device: recordings are listed on its NVR")

    async def close(self) -> None:
        self._devices.clear()
        if self._own_http:
            await self.http.close()
