"""Text that reaches a robot group must not turn into someone else's markup."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#])")


def markdown_escape(text: str) -> str:
    """Escape markdown so a camera name or a body cannot add links, headings or mentions."""
    return _MARKDOWN.sub(r"\\\1", text)
