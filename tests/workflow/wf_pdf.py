"""Read back the text of a printed form, to check what it says (pypdf, as a reader would)."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(pdf: bytes) -> str:
    pages = PdfReader(io.BytesIO(pdf)).pages
    # fpdf2 maps each 2-byte glyph to UTF-16BE text; pypdf keeps the high zero byte of ASCII
    return "\n".join(page.extract_text() or "" for page in pages).replace("\x00", "")
