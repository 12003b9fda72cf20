"""A STUN/TURN server stand-in on 127.0.0.1 (UDP), speaking the real protocol.

- Binding (RFC 5389): answered with the sender's address, as a campus STUN server would; the
  sender is kept, so a test sees that a peer (media's aiortc, a Python viewer, Chromium) used
  the ICE servers it was given.
- Allocate (RFC 5766, long-term credentials): asked for the login (401 with realm and nonce),
  then the login checked as coturn checks a shared-secret one (`use-auth-secret`: the
  username `<unix expiry>:<name>`, the password base64(HMAC-SHA1(secret, username))) and the
  message integrity with it; every login is kept with whether it held. It relays nothing:
  the allocation is refused (403) either way, and the peer goes on with its other candidates.

No STUN/TURN server is reachable from the tests' machine, and none is needed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from aioice import stun
from aioice.turn import make_integrity_key

from tests.support.waiting import ChangeFeed

REALM = "campus.test"


@dataclass(frozen=True)
class TurnLogin:
    username: str
    valid: bool  # the shared-secret login and the message integrity both held, not expired


class StunServer(asyncio.DatagramProtocol):
    def __init__(self, turn_secret: str = "") -> None:
        self.turn_secret = turn_secret
        self.asked: list[tuple[str, int]] = []  # the source address of each Binding request
        self.logins: list[TurnLogin] = []  # each Allocate that came with a login
        self.changes = ChangeFeed()
        self.port = 0
        self._transport: Any = None

    @property
    def uri(self) -> str:
        return f"stun:127.0.0.1:{self.port}"

    @property
    def turn_uri(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    async def __aenter__(self) -> StunServer:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._transport.close()

    def _answer(self, request: stun.Message, klass: stun.Class, addr: Any, **attrs: Any) -> None:
        reply = stun.Message(
            message_method=request.message_method,
            message_class=klass,
            transaction_id=request.transaction_id,
        )
        reply.attributes.update(attrs)
        reply.add_fingerprint()
        self._transport.sendto(bytes(reply), addr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return  # not STUN: a real server drops it too
        if request.message_class != stun.Class.REQUEST:
            return
        if request.message_method == stun.Method.BINDING:
            self._answer(request, stun.Class.RESPONSE, addr, **{"XOR-MAPPED-ADDRESS": addr})
            self.asked.append(addr)
        elif request.message_method == stun.Method.ALLOCATE:
            username = request.attributes.get("USERNAME")
            if username is None:
                self._answer(request, stun.Class.ERROR, addr, **{
                    "ERROR-CODE": (401, "Unauthorized"), "REALM": REALM, "NONCE": b"n0nce",
                })  # fmt: skip
                return
            self.logins.append(TurnLogin(username, self._valid(request, username)))
            refused = {"ERROR-CODE": (403, "Forbidden: the stand-in relays nothing")}
            self._answer(request, stun.Class.ERROR, addr, **refused)
        else:
            return
        self.changes.bump()

    def _valid(self, request: stun.Message, username: str) -> bool:
        expiry, _, _ = username.partition(":")
        if not self.turn_secret or not expiry.isdigit() or int(expiry) <= time.time():
            return False
        mac = hmac.new(self.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
        key = make_integrity_key(username, REALM, base64.b64encode(mac).decode())
        return request.check_message_integrity(key)
