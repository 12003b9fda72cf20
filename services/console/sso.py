"""Campus sign-on (统一身份认证): OpenID Connect authorization code with PKCE, and CAS 3.0.

The identity service says who the person is; the people directory says what they may do:
an account the directory does not know (or has disabled) is refused, and every attempt is
recorded as `people.login`. State, nonce and the PKCE verifier travel in a short-lived cookie
signed with SESSION_SECRET, so any console replica can finish a sign-on another began.
Authlib builds the authorization request and exchanges the code; joserfc checks the ID token
against the provider's published keys.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from defusedxml import ElementTree
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from . import people, security
from .security import PUBLIC, guarded_route

FLOW_COOKIE = "cctv_sso"
FLOW_MAX_AGE = 600
CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}


class SsoError(Exception):
    """A sign-on the console refuses; the message is shown to the person, escaped."""


class Sso:
    def __init__(self, console: Any) -> None:
        self.console = console
        self.settings = console.settings
        secret = self.settings.session_secret.get_secret_value() or secrets.token_urlsafe(32)
        self.flows = URLSafeTimedSerializer(secret, salt="cctv-sso")
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def base(self, request: Request) -> str:
        return (self.settings.public_url or str(request.base_url)).rstrip("/")

    # --- OIDC ------------------------------------------------------------------------------

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=10) as http:
                doc = (await http.get(url)).raise_for_status().json()
            if doc.get("issuer", "").rstrip("/") != self.settings.oidc_issuer.rstrip("/"):
                raise SsoError("OIDC discovery names another issuer")
            self._discovery = doc
        return self._discovery

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            async with httpx.AsyncClient(timeout=10) as http:
                jwks = (await http.get((await self.discovery())["jwks_uri"])).raise_for_status()
            self._keys = KeySet.import_key_set(jwks.json())
        return self._keys

    async def oidc_login(self, request: Request) -> Response:
        doc = await self.discovery()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
        # Authlib's protocol core builds the request (its httpx integration is deprecated);
        # the console's own httpx client does the HTTP
        url = prepare_grant_uri(
            doc["authorization_endpoint"],
            self.settings.oidc_client_id,
            "code",
            redirect_uri=f"{self.base(request)}/auth/oidc/callback",
            scope="openid profile",
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        resp = RedirectResponse(url, status_code=303)
        flow = self.flows.dumps({"kind": "oidc", "state": state, "nonce": nonce, "v": verifier})
        self._set_flow(request, resp, flow)
        return resp

    async def oidc_callback(self, request: Request) -> Response:
        try:
            flow = self._flow(request, "oidc")
            if request.query_params.get("error"):
                raise SsoError(
                    f"身份认证服务拒绝 — the identity service said {request.query_params['error']}"
                )
            if not secrets.compare_digest(request.query_params.get("state", ""), flow["state"]):
                raise SsoError("state 不符 — the sign-on answer does not match this browser")
            doc = await self.discovery()
            body = prepare_token_request(
                "authorization_code",
                redirect_uri=f"{self.base(request)}/auth/oidc/callback",
                code=request.query_params.get("code", ""),
                code_verifier=flow["v"],
            )
            auth = ClientAuth(
                self.settings.oidc_client_id,
                self.settings.oidc_client_secret.get_secret_value(),
                "client_secret_basic",
            )
            _, headers, body = auth.prepare(
                "POST",
                doc["token_endpoint"],
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                body,
            )
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(doc["token_endpoint"], content=body, headers=headers)
            token = answer.raise_for_status().json()
            if not isinstance(token, dict):
                raise SsoError("the token answer is not a JSON object")
            claims = await self.id_claims(str(token.get("id_token", "")), flow["nonce"])
            account = str(claims.get(self.settings.oidc_account_claim) or "")
        except SsoError as exc:
            return await self._refused(request, "", "oidc", str(exc))
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return await self._refused(request, "", "oidc", f"身份认证失败 — sign-on failed: {exc}")
        return await self._sign_on(request, account, "oidc")

    async def id_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        if not id_token:
            raise SsoError("no ID token in the answer")
        try:
            try:
                decoded = jwt.decode(id_token, await self.keys())
            except JoseError:  # the provider may have rotated its keys
                decoded = jwt.decode(id_token, await self.keys(refresh=True))
        except (JoseError, ValueError) as exc:
            raise SsoError(f"ID token signature does not verify: {exc}") from exc
        c = decoded.claims
        now = time.time()
        issuer = self.settings.oidc_issuer.rstrip("/")
        aud = c.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if str(c.get("iss", "")).rstrip("/") != issuer:
            raise SsoError("ID token from another issuer")
        if self.settings.oidc_client_id not in auds:
            raise SsoError("ID token for another client")
        if float(c.get("exp", 0)) < now - 30:
            raise SsoError("ID token expired")
        if c.get("nonce") != nonce:
            raise SsoError("ID token nonce does not match this sign-on")
        return dict(c)

    # --- CAS 3.0 ---------------------------------------------------------------------------

    def _service(self, request: Request) -> str:
        return f"{self.base(request)}/auth/cas/callback"

    async def cas_login(self, request: Request) -> Response:
        url = f"{self.settings.cas_url.rstrip('/')}/login?" + urlencode(
            {"service": self._service(request)}
        )
        return RedirectResponse(url, status_code=303)

    async def cas_callback(self, request: Request) -> Response:
        ticket = request.query_params.get("ticket", "")
        try:
            if not ticket.startswith("ST-"):
                raise SsoError("CAS 票据无效 — no service ticket")
            url = f"{self.settings.cas_url.rstrip('/')}/p3/serviceValidate"
            async with httpx.AsyncClient(timeout=10) as http:
                resp = await http.get(
                    url, params={"service": self._service(request), "ticket": ticket}
                )
            account = self.cas_user(resp.text)
        except SsoError as exc:
            return await self._refused(request, "", "cas", str(exc))
        except httpx.HTTPError as exc:
            return await self._refused(request, "", "cas", f"CAS 不可达 — CAS unreachable: {exc}")
        return await self._sign_on(request, account, "cas")

    @staticmethod
    def cas_user(xml: str) -> str:
        try:
            root = ElementTree.fromstring(xml)
        except ElementTree.ParseError as exc:
            raise SsoError(f"CAS answer is not XML: {exc}") from exc
        failure = root.find("cas:authenticationFailure", CAS_NS)
        if failure is not None:
            raise SsoError(
                f"CAS 拒绝 — CAS refused the ticket: {failure.get('code')} "
                f"{(failure.text or '').strip()}"
            )
        user = root.find("cas:authenticationSuccess/cas:user", CAS_NS)
        if user is None or not (user.text or "").strip():
            raise SsoError("CAS answer names no user")
        return (user.text or "").strip()

    # --- shared ----------------------------------------------------------------------------

    async def _sign_on(self, request: Request, account: str, via: str) -> Response:
        """The directory decides: an unknown or disabled account is refused."""
        user = await people.get_user(self.console.pool, account) if account else None
        remote = request.client.host if request.client else "-"
        if user is None:
            await people.record_login(
                self.console.pool,
                account,
                via=via,
                ok=False,
                reason="not in the directory",
                remote=remote,
            )
            return security.error_page(
                request,
                403,
                f"账号 {account or '-'} 不在人员名册中或已停用 — this account is not "
                "in the people directory (or is disabled); ask NIC",
            )
        await people.record_login(
            self.console.pool, account, via=via, ok=True, reason="", remote=remote
        )
        resp: Response = await self.console.start_session(request, user, via)
        resp.headers.append(
            "set-cookie",
            security.cookie_header(
                FLOW_COOKIE,
                "",
                0,
                secure=self.console.cookie_secure(request.headers, request.scope),
            ),
        )
        return resp

    async def _refused(self, request: Request, account: str, via: str, why: str) -> Response:
        remote = request.client.host if request.client else "-"
        await people.record_login(
            self.console.pool, account, via=via, ok=False, reason=why, remote=remote
        )
        return security.error_page(request, 401, why)

    def _set_flow(self, request: Request, resp: Response, value: str) -> None:
        # SameSite=Lax: the identity service sends the browser back with a top-level GET
        secure = self.console.cookie_secure(request.headers, request.scope)
        header = security.cookie_header(FLOW_COOKIE, value, FLOW_MAX_AGE, secure=secure)
        resp.headers.append("set-cookie", header.replace("SameSite=Strict", "SameSite=Lax"))

    def _flow(self, request: Request, kind: str) -> dict[str, Any]:
        raw = request.cookies.get(FLOW_COOKIE, "")
        try:
            flow = self.flows.loads(raw, max_age=FLOW_MAX_AGE)
        except SignatureExpired as exc:
            raise SsoError("登录超时，请重试 — the sign-on took too long; start again") from exc
        except BadSignature as exc:
            raise SsoError("登录状态丢失，请重试 — no sign-on in progress in this browser") from exc
        if not isinstance(flow, dict) or flow.get("kind") != kind:
            raise SsoError("登录状态不符 — no sign-on of this kind in progress")
        return flow


def routes(console: Any) -> list[BaseRoute]:
    sso = Sso(console)
    console.sso = sso
    out: list[BaseRoute] = []
    if console.settings.oidc_issuer:
        out += [
            guarded_route("/auth/oidc/login", sso.oidc_login, PUBLIC),
            guarded_route("/auth/oidc/callback", sso.oidc_callback, PUBLIC),
        ]
    if console.settings.cas_url:
        out += [
            guarded_route("/auth/cas/login", sso.cas_login, PUBLIC),
            guarded_route("/auth/cas/callback", sso.cas_callback, PUBLIC),
        ]
    return out
