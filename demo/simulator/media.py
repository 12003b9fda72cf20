"""Synthetic H.264 footage for the simulated cameras.

Why pre-encoded loops: the simulator must serve thousands of cameras on a 2-core machine,
so each distinct picture is encoded once (PyAV's bundled libx264, no ffmpeg binary needed)
into a short clip that starts with an IDR frame and loops. A camera's view is chosen from a
small pool of scene variants; the image faults (covered lens, moved camera, blur) are other
renderings of the same panorama, so the ingest tamper checks see realistic evidence.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import threading
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

WIDTH = 320
HEIGHT = 240
FPS = 10
CLIP_FRAMES = 20  # one GOP: a 2-second loop that starts with an IDR frame
SCENE_VARIANTS = 12
RTP_CLOCK = 90_000

_PANORAMA_WIDTH = 720
_PANORAMA_HEIGHT = HEIGHT + 60
_VIEW_TOP = 30  # the normal view's top row in the panorama
_MOVED_OFFSET = (380, 60)  # turned away (pan) and knocked downwards (tilt): a different view


class Picture(enum.StrEnum):
    """What the camera's sensor sees."""

    NORMAL = "normal"
    COVERED = "covered"  # a hand, tape or bag over the lens: dark and featureless
    MOVED = "moved"  # the camera was turned: a different part of the scene
    BLUR = "blur"  # lens smeared or knocked out of focus


@dataclass(frozen=True)
class EncodedClip:
    """A looping H.264 clip as RTP-ready access units.

    `access_units[i]` is the list of NAL units (without Annex B start codes) of frame i;
    frame 0 is an IDR preceded by its SPS and PPS, so a viewer can start at the loop start.
    """

    sps: bytes
    pps: bytes
    access_units: tuple[tuple[bytes, ...], ...]
    width: int
    height: int
    fps: int

    @property
    def profile_level_id(self) -> str:
        """The SDP profile-level-id: the three bytes after the SPS NAL header."""
        return self.sps[1:4].hex().upper()

    @property
    def sprop_parameter_sets(self) -> str:
        """The SDP sprop-parameter-sets value (RFC 6184 §8.1)."""
        return ",".join(base64.b64encode(n).decode("ascii") for n in (self.sps, self.pps))

    @property
    def frame_ticks(self) -> int:
        """RTP timestamp increment per frame on the 90 kHz clock."""
        return RTP_CLOCK // self.fps

    @property
    def nbytes(self) -> int:
        return sum(len(n) for au in self.access_units for n in au)


def scene_variant(camera_id: str) -> int:
    """A stable scene for a camera (independent of Python's hash seed)."""
    digest = hashlib.sha256(camera_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % SCENE_VARIANTS


def _panorama(variant: int) -> np.ndarray:
    """A textured outdoor-ish RGB panorama: sky, buildings with windows, road, poles."""
    rng = np.random.default_rng(1000 + variant)
    h, w = _PANORAMA_HEIGHT, _PANORAMA_WIDTH
    img = np.zeros((h, w, 3), dtype=np.float32)
    horizon = int(h * rng.uniform(0.35, 0.5))
    sky_top = np.array([110, 150, 210]) * rng.uniform(0.8, 1.1)
    sky_low = np.array([190, 210, 235]) * rng.uniform(0.85, 1.05)
    t = np.linspace(0.0, 1.0, horizon)[:, None, None]
    img[:horizon] = sky_top * (1 - t) + sky_low * t
    ground = np.array([95, 100, 90]) * rng.uniform(0.8, 1.2)
    img[horizon:] = ground
    # a road with lane markings, receding
    road_top = horizon + (h - horizon) // 3
    img[road_top:, :] = np.array([70, 70, 75])
    x = int(rng.integers(0, 30))
    while x < w:  # dashes at irregular spacing: no periodic pattern to alias against
        dash = int(rng.integers(16, 32))
        img[road_top + (h - road_top) // 2 : road_top + (h - road_top) // 2 + 4, x : x + dash] = 230
        x += dash + int(rng.integers(14, 40))
    # buildings: blocks of varying height, colour and window grids
    x = 0
    while x < w:
        bw = int(rng.integers(50, 130))
        bh = int(rng.integers(horizon // 2, horizon + 30))
        top = max(2, horizon + 20 - bh)
        colour = rng.uniform(60, 200, size=3)
        img[top : horizon + 20, x : x + bw] = colour
        win = colour * rng.uniform(0.3, 0.6)
        for wy in range(top + 6, horizon + 10, 14):
            for wx in range(x + 6, min(x + bw - 8, w - 8), 14):
                if rng.random() < 0.8:
                    img[wy : wy + 7, wx : wx + 7] = win if rng.random() < 0.7 else (240, 230, 150)
        x += bw + int(rng.integers(0, 20))
    # lamp posts and trees in front
    for px in rng.integers(0, w - 6, size=8):
        img[horizon - 30 : road_top, px : px + 3] = 40
        img[horizon - 34 : horizon - 28, px - 3 : px + 6] = (250, 240, 200)
    for tx in rng.integers(10, w - 30, size=5):
        cy, r = horizon + 5, int(rng.integers(10, 20))
        yy, xx = np.ogrid[:h, :w]
        mask = (yy - cy) ** 2 + (xx - tx) ** 2 <= r * r
        img[mask] = (40, 110 + rng.integers(0, 40), 50)
    # fine texture so the picture is never flat (real sensors have detail and noise)
    img += rng.normal(0.0, 6.0, size=(h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of an H x W x C image, applied twice (close to a Gaussian)."""
    out = img.astype(np.float32)
    k = 2 * radius + 1
    for _ in range(2):
        p = np.pad(out, ((radius + 1, radius), (0, 0), (0, 0)), mode="edge").cumsum(axis=0)
        out = (p[k:] - p[:-k]) / k
        p = np.pad(out, ((0, 0), (radius + 1, radius), (0, 0)), mode="edge").cumsum(axis=1)
        out = (p[:, k:] - p[:, :-k]) / k
    return np.clip(out, 0, 255).astype(np.uint8)


def render_frames(variant: int, picture: Picture, n: int = CLIP_FRAMES) -> list[np.ndarray]:
    """The RGB frames of one clip: the view with a pedestrian walking across it."""
    pano = _panorama(variant)
    x0, y0 = _MOVED_OFFSET if picture is Picture.MOVED else (0, _VIEW_TOP)
    view = pano[y0 : y0 + HEIGHT, x0 : x0 + WIDTH]
    frames: list[np.ndarray] = []
    rng = np.random.default_rng(7 + variant)
    for i in range(n):
        f = view.copy()
        # a pedestrian so consecutive frames differ (a live stream, not a still)
        px = int(20 + (WIDTH - 60) * i / max(1, n - 1))
        f[150:190, px : px + 12] = (180, 40, 40)
        f[140:150, px + 2 : px + 10] = (220, 180, 150)
        if picture is Picture.BLUR:
            f = _box_blur(f, 5)
        elif picture is Picture.COVERED:
            # almost no light through the obstruction, a faint smear, sensor noise
            base = 6 + 4 * np.linspace(0, 1, WIDTH)[None, :, None]
            noise = rng.normal(0, 1.2, size=(HEIGHT, WIDTH, 1))
            f = np.clip(base + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)
        frames.append(np.ascontiguousarray(f))
    return frames


def _split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (start codes removed)."""
    nals: list[bytes] = []
    i, n = 0, len(data)
    starts: list[tuple[int, int]] = []  # (start code position, payload position)
    while i < n - 2:
        if data[i] == 0 and data[i + 1] == 0:
            if data[i + 2] == 1:
                starts.append((i, i + 3))
                i += 3
                continue
            if i < n - 3 and data[i + 2] == 0 and data[i + 3] == 1:
                starts.append((i, i + 4))
                i += 4
                continue
        i += 1
    for k, (_, payload) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        nal = data[payload:end]
        if nal:
            nals.append(nal)
    return nals


def encode_clip(frames: list[np.ndarray], fps: int = FPS) -> EncodedClip:
    """Encode RGB frames as one baseline-profile GOP with in-band SPS/PPS."""
    height, width = frames[0].shape[:2]
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
    cc.time_base = Fraction(1, fps)
    cc.framerate = Fraction(fps, 1)
    n = len(frames)
    cc.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "crf": "30",
        "x264-params": f"keyint={n}:min-keyint={n}:scenecut=0:bframes=0:repeat-headers=1",
    }
    packets = []
    for i, rgb in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        vf.pts = i
        packets.extend(cc.encode(vf))
    packets.extend(cc.encode(None))
    sps = pps = b""
    units: list[tuple[bytes, ...]] = []
    for pkt in packets:
        au = []
        for nal in _split_annexb(bytes(pkt)):
            nal_type = nal[0] & 0x1F
            if nal_type == 7:
                sps = sps or nal
            elif nal_type == 8:
                pps = pps or nal
            elif nal_type == 6:
                continue  # SEI (x264's banner): not needed by decoders
            au.append(nal)
        units.append(tuple(au))
    if not sps or not pps or len(units) != n:
        raise RuntimeError("libx264 did not produce SPS/PPS and one packet per frame")
    return EncodedClip(sps, pps, tuple(units), width, height, fps)


_cache: dict[tuple[int, Picture], EncodedClip] = {}
_cache_lock = threading.Lock()


def clip_for(variant: int, picture: Picture) -> EncodedClip:
    """The encoded clip for a scene variant and picture, encoded once per process."""
    key = (variant % SCENE_VARIANTS, picture)
    with _cache_lock:
        clip = _cache.get(key)
        if clip is None:
            clip = encode_clip(render_frames(key[0], picture))
            _cache[key] = clip
    return clip
