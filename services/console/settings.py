from pathlib import Path

from pydantic import SecretStr

from cctv.plumbing.settings import ServiceSettings

# secrets that shipped in code or docs at some point: never accepted outside the demo
KNOWN_DEFAULT_SECRETS = frozenset({"change-me-in-production", "change-me", "secret", "cctv"})


class ConsoleSettings(ServiceSettings):
    http_port: int = 8080
    # signs the session cookie; mounted secret `session_secret`; refused when default/short
    session_secret: SecretStr = SecretStr("")
    seed_demo: bool = False
    # a CSV/YAML of people imported at start-up for accounts not yet in the directory
    people_seed_file: Path | None = None
    refresh_s: float = 3.0
    session_ttl_h: float = 12.0
    cli_token_ttl_s: float = 8 * 3600.0  # `cctv login` tokens: one shift
    cookie_secure: bool | None = None  # None: Secure whenever the request came over HTTPS
    trust_proxy: bool = True  # read X-Forwarded-Proto from the ingress
    trusted_origins: str = ""  # extra origins allowed to POST, comma-separated
    login_limit_per_ip: int = 10  # failed sign-ons per address in 10 minutes
    # campus sign-on (services/console/sso.py); empty issuer / URL: not offered
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_account_claim: str = "preferred_username"
    cas_url: str = ""
    public_url: str = ""  # how browsers reach the console, for IdP redirects

    def sso_links(self) -> list[tuple[str, str]]:
        links = []
        if self.oidc_issuer:
            links.append(("/auth/oidc/login", "统一身份认证 (OIDC)"))
        if self.cas_url:
            links.append(("/auth/cas/login", "统一身份认证 (CAS)"))
        return links
