"""Local (break-glass) passwords: scrypt hashes and the password policy (issue 11).

Campus sign-on (OIDC, CAS) is the normal way in; local passwords remain for the few
accounts that must work when the campus identity service does not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

MIN_LENGTH = 12


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, salt_b64, _ = stored.split("$")
        salt = base64.b64decode(salt_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, salt), stored)


def is_password_hash(value: str) -> bool:
    try:
        scheme, salt, digest = value.split("$")
        return scheme == "scrypt" and len(base64.b64decode(salt)) >= 16 and bool(digest)
    except ValueError:
        return False


def policy_problems(password: str, account: str = "") -> list[str]:
    """Why a new password is refused, in Chinese and English; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"至少 {MIN_LENGTH} 个字符 — at least {MIN_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        problems.append(
            "须含大写、小写、数字、符号中的三类 — use three of: upper, lower, digit, symbol"
        )
    if account and account.lower() in password.lower():
        problems.append("不得包含账号 — must not contain the account name")
    return problems
