"""How a URL is shown in logs, events and errors: with its login hidden.

One wording for every service: the `user:password@` part becomes `…@`. Nothing else of the
URL changes (port, path, query, IPv6 brackets stay as written), so an operator reading a log
sees which device was meant and that a login was written into the URL (a usual cause of
"refused our credentials" when it differs from the configured one), but not the login
itself: neither the password nor the user name (half of the secret). Dropping the part, as
ingest did, hid that it was there."""

from __future__ import annotations

import re

HIDDEN = "…"
# The login is what comes after `scheme:` or `scheme://` up to the last "@" ahead of the
# first "/" — `turn:user:pw@host` too (RFC 7065 URIs have no "//", and a login written into
# one is as secret). Wider than RFC 3986's authority, which also ends at "?" and "#", on
# purpose: camera passwords often hold an unescaped "#" or "?" (vendors demand a special
# character), and reading them by the RFC would end the authority inside the password and
# show the rest; a "@" in the password is hidden whole. The price: a path-less URL with "@"
# in its query is shown shorter than it is.
_LOGIN = re.compile(r"^(?P<scheme>\s*[A-Za-z][A-Za-z0-9+.-]*:(?://)?)[^/]+@")


def without_login(url: str) -> str:
    """The URL as it may be shown: `rtsp://admin:pw@10.1.2.3/x` -> `rtsp://…@10.1.2.3/x`.

    A URL without a login comes back unchanged, and so does anything not `scheme:…`."""
    return _LOGIN.sub(lambda m: f"{m['scheme']}{HIDDEN}@", url, count=1)
