"""Incremental reader for the multipart event streams both vendors push.

Hikvision's alertStream and Dahua's eventManager attach keep one HTTP response open and
append a part per event (multipart/mixed or multipart/x-mixed-replace). Parts are bounded in
size so a device that streams garbage cannot exhaust memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from .base import BadResponse

MAX_PART_BYTES = 64 * 1024


def boundary_of(content_type_header: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type_header, re.I)
    if not m:
        raise BadResponse(f"event stream: no multipart boundary in {content_type_header!r}")
    return m.group(1).removeprefix("--")


class PartParser:
    """Feed bytes, get (headers, body) parts. Works for any chunking of the stream."""

    def __init__(self, boundary: str, max_part: int = MAX_PART_BYTES) -> None:
        self.delim = b"--" + boundary.encode()
        self.buf = b""
        self.max_part = max_part

    def feed(self, data: bytes) -> list[tuple[dict[str, str], bytes]]:
        self.buf += data
        out: list[tuple[dict[str, str], bytes]] = []
        while True:
            start = self.buf.find(self.delim)
            if start < 0:
                if len(self.buf) > self.max_part:
                    raise BadResponse("event stream: no boundary within part size limit")
                return out
            head_end = self.buf.find(b"\r\n\r\n", start)
            if head_end < 0:
                if len(self.buf) - start > self.max_part:
                    raise BadResponse("event stream: part headers too long")
                self.buf = self.buf[start:]
                return out
            header_lines = (
                self.buf[start + len(self.delim) : head_end].decode("latin-1").split("\r\n")
            )
            headers: dict[str, str] = {}
            for line in header_lines:
                k, sep, v = line.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            body_start = head_end + 4
            length = headers.get("content-length")
            if length is not None and length.isdigit():
                n = int(length)
                if n > self.max_part:
                    raise BadResponse(f"event stream: part of {n} bytes exceeds limit")
                if len(self.buf) < body_start + n:
                    self.buf = self.buf[start:]
                    return out
                body = self.buf[body_start : body_start + n]
                self.buf = self.buf[body_start + n :]
            else:
                nxt = self.buf.find(self.delim, body_start)
                if nxt < 0:
                    if len(self.buf) - body_start > self.max_part:
                        raise BadResponse("event stream: part exceeds size limit")
                    self.buf = self.buf[start:]
                    return out
                body = self.buf[body_start:nxt].rstrip(b"\r\n")
                self.buf = self.buf[nxt:]
            out.append((headers, body.strip()))


async def iter_parts(
    chunks: AsyncIterator[bytes], boundary: str
) -> AsyncIterator[tuple[dict[str, str], bytes]]:
    parser = PartParser(boundary)
    async for chunk in chunks:
        for part in parser.feed(chunk):
            yield part
