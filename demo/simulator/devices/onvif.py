"""Simulated ONVIF (SOAP 1.2): device management and a pull-point event service.

Authentication is WS-Security UsernameToken with PasswordDigest
(Base64(SHA-1(nonce + created + password))), which is what ONVIF clients send;
GetSystemDateAndTime answers without it, as the ONVIF Core spec requires (clients need the
device clock before they can sign). Video loss is published on tns1:VideoSource/SignalLoss,
tampering on tns1:RuleEngine/TamperDetector/Tamper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from .model import SimDevice

if TYPE_CHECKING:
    from .server import DeviceServer

SOAP = "http://www.w3.org/2003/05/soap-envelope"
NSMAP = (
    f'xmlns:s="{SOAP}" xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
    'xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:wsa="http://www.w3.org/2005/08/addressing" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" '
    'xmlns:ter="http://www.onvif.org/ver10/error" '
    'xmlns:wsrf-rw="http://docs.oasis-open.org/wsrf/rw-2"'
)
CT = "application/soap+xml"
_sub_ids = itertools.count(1)


def _env(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NSMAP}><s:Body>{body}'
        "</s:Body></s:Envelope>",
        status=status,
        content_type=CT,
        charset="utf-8",
    )


def fault(code: str, sub: str, reason: str) -> web.Response:
    return _env(
        f"<s:Fault><s:Code><s:Value>s:{code}</s:Value><s:Subcode><s:Value>{sub}"
        f'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">{reason}'
        "</s:Text></s:Reason></s:Fault>",
        status=400,
    )


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _first(root: etree._Element, name: str) -> etree._Element | None:
    for el in root.iter():
        if _local(el) == name:
            return el
    return None


def check_wsse(root: etree._Element, dev: SimDevice) -> bool:
    """A UsernameToken with our password's digest, Created within `wsse_skew_s` of the
    device's own clock (as devices refuse stale or replayed tokens: a client must sign with
    the device's time, which it reads from GetSystemDateAndTime)."""
    token = _first(root, "UsernameToken")
    if token is None:
        return False
    user = _first(token, "Username")
    pw = _first(token, "Password")
    nonce = _first(token, "Nonce")
    created = _first(token, "Created")
    if user is None or pw is None or (user.text or "") != dev.username:
        return False
    password = dev.current_password()
    if "PasswordDigest" in (pw.get("Type") or ""):
        if nonce is None or created is None:
            return False
        try:
            raw = base64.b64decode(nonce.text or "")
        except ValueError:
            return False
        want = base64.b64encode(
            hashlib.sha1(raw + (created.text or "").encode() + password.encode()).digest()
        ).decode()
        if not hmac.compare_digest(want, (pw.text or "").strip()):
            return False
    elif not hmac.compare_digest(password, pw.text or ""):
        return False
    if created is None:
        return True  # PasswordText without a Created: nothing to date
    try:
        stamp = datetime.fromisoformat((created.text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    if stamp.tzinfo is None:
        return False
    return abs((stamp - dev.device_now()).total_seconds()) <= dev.wsse_skew_s


def _dt(t: datetime) -> str:
    return (
        f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
        f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date>"
    )


def system_date_and_time(dev: SimDevice) -> str:
    utc = dev.device_now().astimezone(UTC)
    local = utc + timedelta(hours=8)
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{_dt(utc)}</tt:UTCDateTime>"
        f"<tt:LocalDateTime>{_dt(local)}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def device_information(dev: SimDevice) -> str:
    manuf = {"hikvision": "HIKVISION", "dahua": "Dahua", "onvif": "Simulated"}[dev.vendor]
    return (
        f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{manuf}</tds:Manufacturer>"
        f"<tds:Model>{escape(dev.model)}</tds:Model>"
        "<tds:FirmwareVersion>V5.7.3</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{dev.serial}</tds:SerialNumber>"
        "<tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>"
    )


def services(base: str, events: bool = True) -> str:
    items = [
        ("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service"),
        ("http://www.onvif.org/ver10/media/wsdl", "/onvif/media_service"),
        ("http://www.onvif.org/ver10/recording/wsdl", "/onvif/recording_service"),
    ]
    if events:
        items.append(("http://www.onvif.org/ver10/events/wsdl", "/onvif/event_service"))
    return (
        "<tds:GetServicesResponse>"
        + "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{p}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for ns, p in items
        )
        + "</tds:GetServicesResponse>"
    )


def capabilities(base: str, events: bool = True) -> str:
    ev = f"<tt:Events><tt:XAddr>{base}/onvif/event_service</tt:XAddr></tt:Events>"
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
        f"{ev if events else ''}"
        f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr></tt:Media>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def profiles(dev: SimDevice) -> str:
    """A main and a sub profile per channel (video source), as cameras and NVRs list them."""
    out = []
    for ch in sorted(dev.chan):
        for kind in ("main", "sub"):
            out.append(
                f'<trt:Profiles token="prof_{ch}_{kind}" fixed="true"><tt:Name>{kind}</tt:Name>'
                f'<tt:VideoSourceConfiguration token="vsc_{ch}"><tt:Name>vsc</tt:Name>'
                f"<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_{ch}</tt:SourceToken>"
                "</tt:VideoSourceConfiguration></trt:Profiles>"
            )
    return f"<trt:GetProfilesResponse>{''.join(out)}</trt:GetProfilesResponse>"


def stream_uri(dev: SimDevice, root: etree._Element) -> web.Response:
    token = _first(root, "ProfileToken")
    name = (token.text or "").strip() if token is not None else ""
    parts = name.split("_")
    if len(parts) != 3 or parts[0] != "prof" or not parts[1].isdigit():
        return fault("Sender", "ter:InvalidArgVal", f"no profile {name!r}")
    ch = int(parts[1])
    if ch not in dev.chan:
        return fault("Sender", "ter:InvalidArgVal", f"no profile {name!r}")
    uri = escape(dev.stream_uri.format(channel=ch, device_id=dev.device_id))
    return _env(
        f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
        "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
        "</trt:MediaUri></trt:GetStreamUriResponse>"
    )


def recording_jobs(dev: SimDevice) -> str:
    """Recording Control (Profile G): one job per channel recording its main profile; Mode
    Idle while the channel is `disarmed` (Art. 12)."""
    items = "".join(
        f"<trc:JobItem><trc:JobToken>job_{ch}</trc:JobToken><trc:JobConfiguration>"
        f"<tt:RecordingToken>rec_{ch}</tt:RecordingToken>"
        f"<tt:Mode>{'Idle' if st.disarmed else 'Active'}</tt:Mode><tt:Priority>1</tt:Priority>"
        '<tt:Source><tt:SourceToken Type="http://www.onvif.org/ver10/schema/Profile">'
        f"<tt:Token>prof_{ch}_main</tt:Token></tt:SourceToken></tt:Source>"
        "</trc:JobConfiguration></trc:JobItem>"
        for ch, st in sorted(dev.chan.items())
    )
    return f"<trc:GetRecordingJobsResponse>{items}</trc:GetRecordingJobsResponse>"


def recording_job_state(dev: SimDevice, root: etree._Element) -> web.Response:
    """The job's State: Active while recording, Idle when disarmed, Error inside a gap.
    Strict: an unknown JobToken is a fault, not a default answer."""
    token = _first(root, "JobToken")
    name = (token.text or "").strip() if token is not None else ""
    ch = int(name[4:]) if name.startswith("job_") and name[4:].isdigit() else 0
    st = dev.channel(ch)
    if st is None:
        return fault("Sender", "ter:InvalidArgVal", f"no recording job {name!r}")
    now = datetime.now(UTC)
    state = "Active"
    if st.disarmed:
        state = "Idle"
    elif any(gs <= now < ge for gs, ge in st.gaps):
        state = "Error"
    return _env(
        "<trc:GetRecordingJobStateResponse><trc:State>"
        f"<tt:RecordingToken>rec_{ch}</tt:RecordingToken><tt:State>{state}</tt:State>"
        "</trc:State></trc:GetRecordingJobStateResponse>"
    )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def notification(topic: str, source_token: str, state: bool, at: datetime) -> str:
    return (
        f'<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/'
        f'topicExpression/ConcreteSet">{topic}</wsnt:Topic><wsnt:Message>'
        f'<tt:Message UtcTime="{_iso(at)}" PropertyOperation="Changed"><tt:Source>'
        f'<tt:SimpleItem Name="VideoSourceToken" Value="{source_token}"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="State" Value="{str(state).lower()}"/></tt:Data>'
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


async def handle(sim: DeviceServer, dev: SimDevice, request: web.Request) -> web.Response:
    if request.method != "POST":
        return web.Response(status=405, text="SOAP endpoints take POST")
    try:
        root = etree.fromstring(
            await request.read(), etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError:
        return fault("Sender", "ter:WellFormed", "malformed XML")
    body = _first(root, "Body")
    op_el = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if op_el is None:
        return fault("Sender", "ter:InvalidArgVal", "empty SOAP body")
    op = _local(op_el)
    sim.calls.append((dev.device_id, f"POST {request.path} {op}"))
    if dev.faults.wrong_content_type:
        return web.Response(text="<html>Login</html>", content_type="text/html")
    if dev.faults.garbage:
        return web.Response(text="<s:Envelope><s:Body><tds:GetSys", content_type=CT)
    if op == "GetSystemDateAndTime" and not dev.wsse_always:
        return _env(system_date_and_time(dev))
    if not check_wsse(root, dev):
        return fault("Sender", "ter:NotAuthorized", "Sender not authorized")
    if op == "GetSystemDateAndTime":
        return _env(system_date_and_time(dev))
    if not check_wsse(root, dev):
        return fault("Sender", "ter:NotAuthorized", "Sender not authorized")
    base = f"http://{request.host}"
    path = request.path
    if path == "/onvif/device_service":
        if op == "GetDeviceInformation":
            return _env(device_information(dev))
        if op == "GetServices":
            return _env(services(base, dev.events))
        if op == "GetCapabilities":
            return _env(capabilities(base, dev.events))
    if path == "/onvif/media_service":
        if op == "GetProfiles":
            return _env(profiles(dev))
        if op == "GetStreamUri":
            return stream_uri(dev, root)
    if path == "/onvif/recording_service":
        if op == "GetRecordingJobs":
            return _env(recording_jobs(dev))
        if op == "GetRecordingJobState":
            return recording_job_state(dev, root)
    if not dev.events and path.startswith(("/onvif/event_service", "/onvif/pullpoint/")):
        return fault("Receiver", "ter:ActionNotSupported", "no event service")
    if path == "/onvif/event_service" and op == "CreatePullPointSubscription":
        sid = str(next(_sub_ids))
        subs = sim.state.setdefault(("onvif-subs", dev.device_id), {})
        subs[sid] = {}
        now = datetime.now(UTC)
        return _env(
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{base}/onvif/pullpoint/{sid}</wsa:Address>"
            f"</tev:SubscriptionReference><wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{_iso(now + timedelta(minutes=10))}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )
    if path.startswith("/onvif/pullpoint/"):
        sid = path.rsplit("/", 1)[1]
        subs = sim.state.setdefault(("onvif-subs", dev.device_id), {})
        if sid not in subs:
            return fault("Receiver", "wsrf-rw:ResourceUnknownFault", "no such subscription")
        last = subs[sid]
        now = datetime.now(UTC)
        if op == "PullMessages":
            msgs = []
            for ch, st in dev.chan.items():
                for topic, on in (
                    ("tns1:VideoSource/SignalLoss", st.video_loss),
                    ("tns1:RuleEngine/TamperDetector/Tamper", st.tamper),
                ):
                    if last.get((ch, topic)) != on:
                        msgs.append(notification(topic, f"VideoSource_{ch}", on, now))
                    last[(ch, topic)] = on
            return _env(
                f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(now)}</tev:CurrentTime>"
                f"<tev:TerminationTime>{_iso(now + timedelta(minutes=10))}"
                f"</tev:TerminationTime>{''.join(msgs)}</tev:PullMessagesResponse>"
            )
        if op == "Unsubscribe":
            subs.pop(sid, None)
            return _env("<wsnt:UnsubscribeResponse/>")
    return fault("Receiver", "ter:ActionNotSupported", f"{op} not supported")
