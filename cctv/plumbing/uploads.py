"""Files people hand in (inventory CSV/YAML): a size limit checked before reading, and text
decoding that never guesses silently — UTF-8 (with or without BOM), else GB18030/GBK when that
reads as Chinese text (what Excel on Chinese Windows saves), else a clear refusal naming the
line and byte. Shared by the console upload, the CLI and ingest."""

from __future__ import annotations

import re

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""2 MiB: about 20,000 inventory rows. Larger files are refused before they are read."""

_CJK = re.compile(r"[\u4e00-\u9fff]")


class UploadRejected(ValueError):
    """The file as a whole cannot be taken; the message says why, in Chinese and English."""


def decode_text(data: bytes, name: str = "file") -> tuple[str, str]:
    """Return (text, encoding used) or raise UploadRejected naming the first bad byte."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if text and _CJK.search(text) and "\ufffd" not in text:
        return text, "gb18030"
    line = data.count(b"\n", 0, first_bad.start) + 1
    raise UploadRejected(
        f"{name} 第{line}行不是 UTF-8 或 GBK 编码文本（字节 {first_bad.start}）/ "
        f"line {line} of {name} is not UTF-8 (or GBK) text (byte {first_bad.start}): "
        "请另存为 UTF-8 save it as UTF-8"
    )


def too_large(size: int, limit: int = MAX_UPLOAD_BYTES) -> str | None:
    """The refusal for a file of `size` bytes, or None if it may be read."""
    if size <= limit:
        return None
    return (
        f"文件过大：{size} 字节，上限 {limit} 字节 / file too large: {size} bytes, "
        f"the limit is {limit} bytes ({limit // (1024 * 1024)} MiB)"
    )
