"""Read back the text of the PDFs fpdf2 makes, to check what a printed form says."""

from __future__ import annotations

import re
import zlib


def pdf_text(pdf: bytes) -> str:
    """The text of an fpdf2 PDF: Tj strings of 2-byte glyph ids mapped through ToUnicode."""
    streams = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            streams.append(zlib.decompress(m.group(1)))
        except zlib.error:
            streams.append(m.group(1))
    cmap: dict[int, str] = {}
    for st in streams:
        for a, b in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4,8})>", st):
            cmap[int(a, 16)] = bytes.fromhex(b.decode()).decode("utf-16-be")
    esc = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
    out = []
    for st in streams:
        for lit in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", st, re.S):
            raw = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: (
                    bytes([int(m.group(1), 8)])
                    if m.group(1)[:1].isdigit()
                    else esc.get(m.group(1), m.group(1))
                ),
                lit,
                flags=re.S,
            )
            out.append(
                "".join(
                    cmap.get(int.from_bytes(raw[i : i + 2], "big"), "?")
                    for i in range(0, len(raw), 2)
                )
            )
    return "\n".join(out)
