"""Safe, namespace-blind XML reading for device responses.

Devices differ in namespace (ver10/ver20, with or without xmlns); we match local names.
The parser never resolves entities or fetches anything (XXE), and refuses huge trees.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from cctv.contract.campustime import parse_instant

from .base import BadResponse

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True
)


def parse_xml(body: bytes, what: str) -> etree._Element:
    if not body.strip():
        raise BadResponse(f"{what}: empty body where XML was expected")
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadResponse(f"{what}: malformed XML ({exc.msg}, line {exc.lineno})") from exc
    if root is None:
        raise BadResponse(f"{what}: no XML document")
    return root


def local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if local(c) == name:
            return c
    return None


def children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if local(c) == name]


def descendants(el: etree._Element, name: str) -> list[etree._Element]:
    return [d for d in el.iter() if local(d) == name]


def text(el: etree._Element | None, name: str, default: str | None = None) -> str | None:
    """Text of the first descendant named `name` (depth-first), or default."""
    if el is None:
        return default
    for d in el.iter():
        if local(d) == name:
            return (d.text or "").strip()
    return default


def require_root(root: etree._Element, name: str, what: str) -> None:
    if local(root) != name:
        raise BadResponse(f"{what}: expected <{name}>, got <{local(root)}>")


def parse_time(value: str | None, what: str) -> datetime:
    """ISO 8601 as devices write it; a time without zone is taken as UTC."""
    if not value:
        raise BadResponse(f"{what}: missing time")
    try:
        return parse_instant(value, what, naive="utc")
    except ValueError as exc:
        raise BadResponse(f"{what}: unreadable time {value!r}") from exc
