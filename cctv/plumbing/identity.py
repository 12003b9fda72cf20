"""Who a request acts for: a short-lived token signed by the console, verified by the service
that answers (issue 11).

A request that acts for a person carries `Cctv-Identity: v1.<payload>.<signature>` in its
NATS headers — never a name in the body the caller could have typed. The console signs one
per request for its session user; the CLI carries one the console issued after the operator
logged in (`cctv login`). Payload: account, name, department, roles, zone, how the person
signed on, issued/expiry times. Ed25519: services hold only the public key, so a service
can check a token but never mint one.

Services read the verified caller with `caller()` / `require_caller()`; `Service.respond`
verifies the header once for every responder and refuses a bad token before any handler runs.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cctv.contract.orgs import Actor, Role

HEADER = "Cctv-Identity"
VERSION = "v1"
AUDIENCE = "cctv"
MAX_TTL_S = 12 * 3600  # a token claiming more than this is refused, whoever signed it
CLOCK_SKEW_S = 30


class IdentityError(ValueError):
    """A token that is missing, malformed, forged or expired; the message says which."""


class Identity(BaseModel):
    """A signed-on person as the console knows them from the people directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(min_length=1, max_length=128)
    name: str = ""
    department: str | None = None
    roles: tuple[str, ...] = ()
    zone: str | None = None
    via: str = Field(default="console", max_length=32)  # console | cli | oidc | cas | local

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class Claims(Identity):
    aud: str = AUDIENCE
    iat: int
    exp: int
    jti: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_keypair() -> tuple[str, str]:
    """(private, public) as base64 of the raw 32-byte keys, for settings and secrets."""
    from cryptography.hazmat.primitives import serialization as s

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())
    public = key.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


class Signer:
    """Mints tokens; only the console holds the private key."""

    def __init__(self, private_key_b64: str) -> None:
        try:
            self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64))
        except ValueError as exc:
            raise IdentityError(
                f"IDENTITY_SIGNING_KEY is not a base64 raw Ed25519 key: {exc}"
            ) from exc

    def sign(self, who: Identity, ttl_s: float = 60.0, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = Claims(
            **who.model_dump(),
            iat=issued,
            exp=issued + int(min(ttl_s, MAX_TTL_S)),
            jti=uuid.uuid4().hex,
        )
        body = f"{VERSION}.{_b64(claims.model_dump_json().encode())}"
        return f"{body}.{_b64(self._key.sign(body.encode()))}"


class Verifier:
    """Checks tokens against one or more public keys (several while a key is rotated)."""

    def __init__(self, public_keys_b64: Iterable[str]) -> None:
        self._keys: list[Ed25519PublicKey] = []
        for text in public_keys_b64:
            text = text.strip()
            if not text:
                continue
            try:
                self._keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(text)))
            except ValueError as exc:
                raise IdentityError(
                    f"IDENTITY_PUBLIC_KEY is not a base64 raw Ed25519 key: {exc}"
                ) from exc

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def verify(self, token: str, now: float | None = None) -> Claims:
        if not self._keys:
            raise IdentityError("this service has no IDENTITY_PUBLIC_KEY: it cannot check who")
        parts = token.strip().split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise IdentityError(f"identity token is not {VERSION}.<payload>.<signature>")
        body = f"{parts[0]}.{parts[1]}".encode()
        try:
            signature = _unb64(parts[2])
            payload = _unb64(parts[1])
        except ValueError as exc:
            raise IdentityError("identity token is not base64url") from exc
        for key in self._keys:
            try:
                key.verify(signature, body)
                break
            except InvalidSignature:
                continue
        else:
            raise IdentityError("identity token signature does not verify (forged or foreign)")
        try:
            claims = Claims.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            raise IdentityError(f"identity token payload is malformed: {exc}") from exc
        t = now if now is not None else time.time()
        if claims.aud != AUDIENCE:
            raise IdentityError(f"identity token is for {claims.aud!r}, not {AUDIENCE!r}")
        if claims.exp - claims.iat > MAX_TTL_S:
            raise IdentityError("identity token lives longer than allowed")
        if claims.iat > t + CLOCK_SKEW_S:
            raise IdentityError("identity token is issued in the future")
        if claims.exp < t - CLOCK_SKEW_S:
            raise IdentityError("identity token has expired: sign on again")
        return claims


# --- the request in hand --------------------------------------------------------------------

_caller: ContextVar[Claims | None] = ContextVar("cctv_caller", default=None)
_acting: ContextVar[Identity | None] = ContextVar("cctv_acting", default=None)


def caller() -> Claims | None:
    """The verified person the current request acts for, if its token said so."""
    return _caller.get()


def require_caller(*roles: str, what: str = "this request") -> Claims:
    """The verified caller, who must hold one of `roles` if any are given."""
    who = _caller.get()
    if who is None:
        raise IdentityError(
            f"{what} acts for a person and needs a signed identity ({HEADER} header from a "
            "console session or `cctv login`); a name in the request is not enough"
        )
    if roles and not who.has(*roles):
        raise IdentityError(
            f"{who.account} may not do {what}: needs one of the roles {', '.join(roles)}"
        )
    return who


@contextmanager
def calling_as(claims: Claims | None) -> Iterator[None]:
    token = _caller.set(claims)
    try:
        yield
    finally:
        _caller.reset(token)


def act_as(who: Identity | None) -> None:
    """Outgoing requests from this task carry `who` (the console, for its session user)."""
    _acting.set(who)


def acting() -> Identity | None:
    return _acting.get()


def headers_for(signer: Signer | None, who: Identity | None = None) -> dict[str, str]:
    """The header for an outgoing request acting for `who` (default: the task's person)."""
    who = who or _acting.get()
    if signer is None or who is None:
        return {}
    return {HEADER: signer.sign(who)}


def verify_headers(verifier: Verifier, headers: dict[str, Any] | None) -> Claims | None:
    """The caller named by a request's headers; None when there is no identity header."""
    token = (headers or {}).get(HEADER)
    if not token:
        return None
    return verifier.verify(str(token))


def caller_actor() -> Actor | None:
    """The verified caller as the regulation's Actor (roles the processes do not know are left
    out; everyone signed on is at least staff). None when the request carried no identity."""
    who = _caller.get()
    if who is None:
        return None
    roles = {Role.STAFF}
    for role in who.roles:
        try:
            roles.add(Role(role))
        except ValueError:  # a directory role no process has a use for
            continue
    return Actor(
        person_id=who.account, name=who.name, department=who.department, roles=frozenset(roles)
    )
