"""Console accounts. Passwords are stored as scrypt hashes (stdlib; no extra dependency)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import asyncpg

SCHEMA = "console"


@dataclass(frozen=True)
class User:
    account: str
    name: str
    role: str
    department: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, base64.b64decode(salt_b64)), stored)


async def authenticate(pool: asyncpg.Pool, account: str, password: str) -> User | None:
    row = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.users WHERE account=$1", account)
    if row is None or not check_password(password, row["password_hash"]):
        return None
    return User(row["account"], row["name"], row["role"], row["department"])


async def get_user(pool: asyncpg.Pool, account: str) -> User | None:
    row = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.users WHERE account=$1", account)
    return User(row["account"], row["name"], row["role"], row["department"]) if row else None


async def seed_demo_users(pool: asyncpg.Pool) -> None:
    from demo.campus import DEMO_PASSWORD, DEMO_PEOPLE

    for person in DEMO_PEOPLE:
        await pool.execute(
            f"INSERT INTO {SCHEMA}.users (account, name, role, department, password_hash) "
            "VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
            person.account,
            person.name,
            person.role,
            person.department,
            hash_password(DEMO_PASSWORD),
        )
