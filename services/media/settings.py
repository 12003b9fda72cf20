"""media's settings: where recorded footage comes from and where kept footage goes."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from cctv.plumbing.settings import ServiceSettings
from cctv.plumbing.urls import without_login

from .ice_servers import IceServers
from .recorders.onvif import template_problem


class MediaSettings(ServiceSettings):
    # a refusal names the setting and the entry, never echoes the input: it holds passwords
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    http_port: int = 8086
    # Recorders' replay endpoint: `{camera_id}` (or `{channel}`) is replaced (ONVIF
    # GetReplayUri gives it per recording on a real NVR). The demo recorder serves every camera
    # on one port. Checked at start like RECORDERS' templates.
    replay_url_template: str = "rtsp://127.0.0.1:8556/replay/{camera_id}"
    replay_username: str = ""
    replay_password: str = ""
    replay_timeout_s: float = Field(default=15.0, gt=0)
    # The campus recorders by the inventory's nvr_id: a JSON list, inline or a file path, of
    # {id, brand: onvif|hikvision|dahua, http_url, rtsp_url, replay_url_template, username,
    # password, timezone} (see services/media/README.md). Cameras of other recorders (or none)
    # are fetched from REPLAY_URL_TEMPLATE.
    recorders: str = ""
    # Evidence store: "" = a directory under DATA_DIR; /dir or file:/dir; s3://bucket/prefix
    evidence_store: str = ""
    s3_endpoint_url: str = ""  # the campus object store (MinIO/Ceph); "" = AWS
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    s3_object_lock: bool = False  # the bucket has object lock: store retention dates too
    watermark_font: str = ""  # a CJK font file; "" = Noto Sans CJK where installed
    job_poll_s: float = Field(default=2.0, gt=0)
    verify_every_s: float = Field(default=3600.0, gt=0)  # re-hash every stored object (Art. 18)
    preserve_on_approval: bool = True  # copy approved footage before the recorder overwrites it
    preserve_attempts: int = Field(default=8, ge=1)  # a failed preservation is tried again
    retry_base_s: float = Field(default=60.0, ge=0)  # 60 s, 2 min, 4 min, … at most 1 h
    # ---- the WebRTC viewer (ADR 0022) ------------------------------------------------------
    # Live streams: the camera record's stream_url (from ingest's camera.upserted), else this
    # template; the login is LIVE_USERNAME/LIVE_PASSWORD or the devices' default secret file.
    live_url_template: str = ""
    live_username: str = ""
    live_password: str = ""
    device_secrets_dir: Path | None = None  # `cctv-device-default` there holds user:password
    # ICE (names as deploy/k8s sets them, ADR 0014/0022/0028): STUN/TURN URIs, comma-separated
    # ("" = none: never aiortc's public STUN default), handed to the pages of people allowed
    # to view. The TURN login, from the environment or /run/secrets/<name> (Secret
    # cctv-media): coturn's shared secret (a login per viewer, valid MEDIA_TURN_TTL_S), or
    # one long-term username/password given to every viewer's browser.
    media_ice_servers: str = ""
    media_turn_secret: SecretStr = SecretStr("")
    media_turn_ttl_s: int = Field(default=28_800, ge=60)  # a duty shift
    media_turn_username: str = ""
    media_turn_password: SecretStr = SecretStr("")
    # the UDP ports ICE binds, MIN..MAX (unset = any ephemeral port): what Kubernetes exposes
    media_rtc_port_min: int | None = Field(default=None, ge=1024, le=65535)
    media_rtc_port_max: int | None = Field(default=None, ge=1024, le=65535)
    # the address browsers reach, advertised in place of the pod's own (its node's, from
    # status.hostIP, behind a NodePort whose node ports equal the container's)
    media_rtc_advertise_ip: str = ""
    # host addresses ICE binds and offers, comma-separated ("" = every interface);
    # "127.0.0.1" for tests and one-machine runs (aioice leaves loopback out)
    webrtc_host_addresses: str = ""
    view_check_s: float = Field(default=1.0, gt=0)  # how often open sessions re-check grants
    view_connect_timeout_s: float = Field(default=30.0, gt=0)  # offer answered, never connected
    max_viewers: int = Field(default=40, ge=1)  # sessions per replica before refusing
    viewer_font_size: int = Field(default=14, ge=6)

    @field_validator("replay_url_template")
    @classmethod
    def _replay_template(cls, v: str) -> str:
        why = template_problem(v)
        if why:
            raise ValueError(f"REPLAY_URL_TEMPLATE {without_login(v)!r} {why}")
        return v

    @model_validator(mode="after")
    def _ice_servers(self) -> "MediaSettings":
        """The servers (each entry refused by name) with their TURN login, refused at start
        (ADR 0028), not at a viewer's first session."""
        self.ice_servers()
        return self

    def ice_servers(self) -> IceServers:
        return IceServers.from_settings(
            self.media_ice_servers,
            self.media_turn_username.strip(),
            self.media_turn_password.get_secret_value().strip(),
            self.media_turn_secret.get_secret_value().strip(),
            self.media_turn_ttl_s,
        )
