"""A stand-in campus identity service on a real socket: OpenID Connect (discovery, JWKS,
authorization code with PKCE S256, token) and CAS 3.0 (login, p3/serviceValidate).

`user` is whoever "types their password" at the identity service next; `foreign_key` makes
it sign ID tokens with a key it does not publish (a forged token)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cctv.devstack.embedded import free_port


class StandInIdP:
    def __init__(self, client_id: str = "cctv-console", client_secret: str = "s3cret") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.other = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.user = "leader"
        self.foreign_key = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, tuple[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # --- OIDC ---
    async def discovery(self, _r: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
            }
        )

    async def jwks(self, _r: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, r: Request) -> Response:
        q = r.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "why": "PKCE required"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "redirect_uri": q["redirect_uri"],
            "user": self.user,
        }
        return RedirectResponse(
            f"{q['redirect_uri']}?" + urlencode({"code": code, "state": q.get("state", "")}), 302
        )

    async def token(self, r: Request) -> Response:
        form = {k: str(v) for k, v in (await r.form()).items()}
        self.token_requests.append(form)
        auth = r.headers.get("authorization", "")
        secret = form.get("client_secret")
        if auth.startswith("Basic "):
            _cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if secret != self.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "why": "PKCE verifier"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": self.client_id,
            "sub": f"sub-{grant['user']}",
            "preferred_username": grant["user"],
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
        }
        key = self.other if self.foreign_key else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )

    # --- CAS 3.0 ---
    async def cas_login(self, r: Request) -> Response:
        service = r.query_params["service"]
        ticket = f"ST-{secrets.token_hex(12)}"
        self.tickets[ticket] = (service, self.user)
        return RedirectResponse(f"{service}?" + urlencode({"ticket": ticket}), 302)

    async def cas_validate(self, r: Request) -> Response:
        got = self.tickets.pop(r.query_params.get("ticket", ""), None)  # single use
        if got is None or got[0] != r.query_params.get("service"):
            body = (
                '<cas:authenticationFailure code="INVALID_TICKET">Ticket not recognized'
                "</cas:authenticationFailure>"
            )
        else:
            body = (
                f"<cas:authenticationSuccess><cas:user>{got[1]}</cas:user><cas:attributes>"
                "<cas:displayName>x</cas:displayName></cas:attributes>"
                "</cas:authenticationSuccess>"
            )
        xml = f"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>{body}</cas:serviceResponse>"
        return Response(xml, media_type="application/xml")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/cas/login", self.cas_login),
                Route("/cas/p3/serviceValidate", self.cas_validate),
            ]
        )

    async def start(self) -> StandInIdP:
        """Listening before it returns: the socket is bound and queues connections at once."""
        config = uvicorn.Config(self.app(), log_level="warning")
        self._server = uvicorn.Server(config)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await self._task
