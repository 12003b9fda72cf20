"""Turning fetched recorded frames into files: a watermarked MP4 (copy grants, Art. 17) or the
footage exactly as recorded (preservation, Art. 18), each hashed by us while it is written.

Why re-encode for copies: the watermark (grantee, request number, time of copying) must be
burned into every frame, so a copy that leaves the campus says whose it is. Preservation
copies keep the recorder's H.264 bytes untouched, so they stay evidence of what was recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .replay import RecordedFrame

CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)


class OutsideWindow(Exception):
    """The recorder sent footage outside what was asked for: nothing of it is kept."""


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    sha256: str
    bytes: int
    frames: int
    first_frame_at: datetime | None
    last_frame_at: datetime | None


def load_font(path: str = "", size: int = 14) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font that draws Chinese (Noto Sans CJK, face 2 = Simplified Chinese)."""
    for candidate in ([path] if path else []) + list(CJK_FONTS):
        if candidate and Path(candidate).is_file():
            index = 2 if candidate.endswith(".ttc") else 0
            return ImageFont.truetype(candidate, size, index=index)
    return ImageFont.load_default(size)


def burn_watermark(
    rgb: np.ndarray, lines: Sequence[str], font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> np.ndarray:
    """Draw `lines` on a dark band at the bottom of the frame, and faintly across it, so that
    neither cropping the band nor a photo of the screen removes who it belongs to.

    Only the two regions drawn on are blended (not the whole frame): at 1080p that is what
    keeps a viewer stream affordable (bench/bench_viewer.py)."""
    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    line_h = int(getattr(font, "size", 12)) + 3
    band_top = max(0, h - line_h * len(lines) - 4)

    def blend(y0: int, y1: int, x0: int, x1: int, draw: Callable[[ImageDraw.ImageDraw], None]):
        if y1 <= y0 or x1 <= x0:
            return
        region = Image.fromarray(out[y0:y1, x0:x1]).convert("RGBA")
        over = Image.new("RGBA", region.size, (0, 0, 0, 0))
        draw(ImageDraw.Draw(over))
        out[y0:y1, x0:x1] = np.asarray(Image.alpha_composite(region, over).convert("RGB"))

    def band(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((0, 0, w, h - band_top), fill=(0, 0, 0, 150))
        for i, line in enumerate(lines):
            d.text((4, 2 + i * line_h), line, font=font, fill=(255, 255, 255, 255))

    blend(band_top, h, 0, w, band)
    x, y = w // 4, h // 2
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGBA", (1, 1))).textbbox(
        (x, y), lines[0], font=font
    )
    y0, y1 = max(0, int(top)), min(band_top, int(bottom) + 1)
    x0, x1 = max(0, int(left)), min(w, int(right) + 1)
    blend(y0, y1, x0, x1, lambda d: d.text((x - x0, y - y0), lines[0], font=font,
                                           fill=(255, 255, 255, 70)))  # fmt: skip
    return out


def _check_window(frames: Sequence[RecordedFrame], start: datetime, end: datetime) -> None:
    for f in frames:
        if not (start <= f.at < end):
            raise OutsideWindow(
                f"the recorder sent a frame recorded at {f.at.isoformat()}, outside "
                f"{start.isoformat()} – {end.isoformat()}: nothing was kept (Art. 16(1)3)"
            )


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def write_watermarked_mp4(
    frames: Sequence[RecordedFrame],
    out: Path,
    *,
    start: datetime,
    end: datetime,
    watermark: Callable[[datetime], list[str]],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    clock: Callable[[], datetime],
) -> WrittenFile:
    """Decode, burn `watermark(now)` into every frame, encode H.264 into MP4, hash the file.

    Blocking (PyAV): run it in a worker thread."""
    _check_window(frames, start, end)
    decoder = av.CodecContext.create("h264", "r")
    container = av.open(str(out), "w", format="mp4")
    stream: Any = None
    written = 0
    first = last = None
    times = iter([rec.at for rec in frames])  # no B-frames: frames decode in recorded order

    def put(decoded: av.VideoFrame) -> None:
        nonlocal stream, written, first, last
        at = next(times)
        rgb = decoded.to_ndarray(format="rgb24")
        if stream is None:
            stream = container.add_stream("libx264", rate=Fraction(5, 1))
            stream.width, stream.height = rgb.shape[1], rgb.shape[0]
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.options = {"preset": "veryfast", "crf": "23"}
        marked = burn_watermark(rgb, watermark(clock()), font)
        frame = av.VideoFrame.from_ndarray(marked, format="rgb24")
        frame.pts = int((at - start).total_seconds() * 1000)
        frame.time_base = Fraction(1, 1000)
        for p in stream.encode(frame):
            container.mux(p)
        written += 1
        first = first or at
        last = at

    try:
        for rec in frames:
            for packet in decoder.parse(rec.annexb):
                for decoded in decoder.decode(packet):
                    put(decoded)
        for packet in decoder.parse(None):  # the parser holds the last access unit back
            for decoded in decoder.decode(packet):
                put(decoded)
        for decoded in decoder.decode(None):
            put(decoded)
        if stream is not None:
            for p in stream.encode(None):
                container.mux(p)
    finally:
        container.close()
    digest, size = _sha256(out)
    return WrittenFile(out, digest, size, written, first, last)


def write_as_recorded(
    frames: Sequence[RecordedFrame], out: Path, *, start: datetime, end: datetime
) -> WrittenFile:
    """The recorder's own H.264 elementary stream (Annex B), byte for byte, and its hash."""
    _check_window(frames, start, end)
    with open(out, "wb") as f:
        for rec in frames:
            f.write(rec.annexb)
    digest, size = _sha256(out)
    return WrittenFile(
        out,
        digest,
        size,
        len(frames),
        frames[0].at if frames else None,
        frames[-1].at if frames else None,
    )
