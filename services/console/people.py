"""The people directory, its CSV/YAML import and export, sign-on and server-side sessions.

The console owns the directory (ADR 0013). Every change is staged as `people.changed` and
every sign-on attempt as `people.login`, in the same transaction as the change, so the audit
log has them all. Import is all-or-nothing: every row is checked first and any bad row refuses
the file, naming row, column and reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import yaml
from pydantic import ValidationError

from cctv.contract.orgs import BY_CHINESE, ROLES
from cctv.contract.people import LoginRecorded, PersonChanged, PersonRecord
from cctv.plumbing.identity import Identity
from cctv.plumbing.outbox import stage
from cctv.plumbing.passwords import check_password, hash_password, is_password_hash

SCHEMA = "console"
LOCK_AFTER = 5  # failed passwords in a row lock the account ...
LOCK_FOR = timedelta(minutes=15)  # ... for this long
_DUMMY_HASH = hash_password(secrets.token_hex(8))  # unknown accounts take as long to refuse

COLUMNS = (*tuple(PersonRecord.model_fields), "password_hash")
ALIASES = {
    "账号": "account",
    "姓名": "name",
    "部门": "department",
    "角色": "roles",
    "区域": "zone",
    "电话": "phone",
    "手机": "phone",
    "邮箱": "email",
    "班次": "shift",
    "停用": "disabled",
}
ROLE_BY_CHINESE = {zh: key for key, (zh, _en) in ROLES.items()}
# the role that names a person in a header line, strongest first
ROLE_RANK = ("sysadmin", "school_leader", "dept_head", "duty_operator", "guard", "gatekeeper")


@dataclass(frozen=True)
class User:
    """A signed-in person, as the pages see them."""

    account: str
    name: str
    department: str
    roles: tuple[str, ...]
    zone: str | None = None
    phone: str = ""

    @property
    def role(self) -> str:
        """The person's main role (pages written for one role per person read this)."""
        for r in ROLE_RANK:
            if r in self.roles:
                return r
        return self.roles[0] if self.roles else "staff"

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def identity(self, via: str = "console") -> Identity:
        return Identity(account=self.account, name=self.name, department=self.department,
                        roles=self.roles, zone=self.zone, via=via)  # fmt: skip


def _user(row: asyncpg.Record) -> User:
    return User(row["account"], row["name"], row["department"], tuple(row["roles"]),
                row["zone"], row["phone"])  # fmt: skip


def _record(row: asyncpg.Record | dict[str, Any]) -> PersonRecord:
    return PersonRecord(
        account=row["account"], name=row["name"], department=row["department"],
        roles=list(row["roles"]), zone=row["zone"], phone=row["phone"], email=row["email"],
        shift=row["shift"], disabled=row["disabled"],
    )  # fmt: skip


async def get_user(pool: asyncpg.Pool, account: str) -> User | None:
    row = await pool.fetchrow(
        f"SELECT * FROM {SCHEMA}.people WHERE account=$1 AND NOT disabled", account
    )
    return _user(row) if row else None


async def get_person(pool: asyncpg.Pool, account: str) -> PersonRecord | None:
    """A person as the directory has them, disabled or not (what the edit page shows)."""
    row = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.people WHERE account=$1", account)
    return _record(row) if row else None


async def list_people(pool: asyncpg.Pool) -> list[PersonRecord]:
    rows = await pool.fetch(f"SELECT * FROM {SCHEMA}.people ORDER BY department, account")
    return [_record(r) for r in rows]


# --- import and export ----------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # CSV: the file's line (header is 1); YAML: the item number from 1
    column: str
    reason: str

    def __str__(self) -> str:
        return (
            f"第{self.row}行 列 {self.column}: {self.reason} / row {self.row}, column {self.column}"
        )


class PeopleRejected(ValueError):
    """The file was refused as a whole; nothing changed."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        head = "; ".join(str(e) for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"人员名册未导入 people not imported: {head}{more}")


@dataclass
class ImportPlan:
    people: list[PersonRecord] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # account -> password hash given


def _rows(filename: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    name = filename.lower()
    if name.endswith((".yaml", ".yml")):
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise PeopleRejected([RowError(0, "-", f"YAML 无法解析 not YAML: {exc}")]) from exc
        if isinstance(data, dict):
            data = data.get("people")
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise PeopleRejected(
                [RowError(0, "-", "YAML 须为人员列表 must be a list of people (or people: [...])")]
            )
        return [(i, dict(d)) for i, d in enumerate(data, start=1)]
    if name.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
        return [(i, dict(r)) for i, r in enumerate(reader, start=2)]
    raise PeopleRejected([RowError(0, "-", f"{filename}: 只接受 .csv/.yaml — use .csv or .yaml")])


def _normalise(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    out: dict[str, Any] = {}
    unknown: list[tuple[str, str]] = []
    for key, value in raw.items():
        col = ALIASES.get(str(key).strip(), str(key).strip())
        if col not in COLUMNS:
            if col.lower() in ("password", "密码", "口令"):
                unknown.append(
                    (col, "明文口令不得导入 plain passwords are refused; give password_hash")
                )
            else:
                unknown.append((col, f"未知列 unknown column (one of {', '.join(COLUMNS)})"))
            continue
        if isinstance(value, str):
            value = value.strip()
        if value in ("", None):
            continue
        out[col] = value
    if isinstance(out.get("department"), str):
        out["department"] = BY_CHINESE.get(out["department"], out["department"])
    if isinstance(out.get("roles"), str):
        parts = [p for p in out["roles"].replace("，", ";").replace(",", ";").split(";")]
        out["roles"] = [ROLE_BY_CHINESE.get(p.strip(), p.strip()) for p in parts if p.strip()]
    if isinstance(out.get("disabled"), str):
        out["disabled"] = out["disabled"].lower() in ("1", "true", "yes", "是", "停用")
    for k in ("phone", "account"):
        if k in out and not isinstance(out[k], str):
            out[k] = str(out[k])
    return out, unknown


def plan_import(filename: str, content: str) -> ImportPlan:
    """Check every row; any problem refuses the whole file (PeopleRejected)."""
    errors: list[RowError] = []
    plan = ImportPlan()
    seen: dict[str, int] = {}
    rows = _rows(filename, content)
    if not rows:
        raise PeopleRejected([RowError(0, "-", "文件没有人员 the file holds no people")])
    for line, raw in rows:
        values, unknown = _normalise(raw)
        errors += [RowError(line, col, why) for col, why in unknown]
        given_hash = values.pop("password_hash", None)
        if given_hash is not None and not is_password_hash(str(given_hash)):
            errors.append(RowError(line, "password_hash", "不是 scrypt 口令散列 not a scrypt hash"))
        try:
            person = PersonRecord.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                col = ".".join(str(p) for p in err.get("loc", ())) or "-"
                errors.append(RowError(line, col, str(err.get("msg", "invalid"))))
            continue
        if person.account in seen:
            errors.append(RowError(line, "account",
                                   f"与第{seen[person.account]}行重复 duplicate of row "
                                   f"{seen[person.account]}"))  # fmt: skip
            continue
        seen[person.account] = line
        plan.people.append(person)
        if given_hash:
            plan.hashes[person.account] = str(given_hash)
    if errors:
        raise PeopleRejected(errors)
    return plan


def export(people: list[PersonRecord], fmt: str) -> str:
    rows = [p.model_dump() for p in people]
    if fmt == "yaml":
        return yaml.safe_dump({"people": rows}, allow_unicode=True, sort_keys=False)
    if fmt != "csv":
        raise ValueError(f"format {fmt!r}: csv or yaml")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(PersonRecord.model_fields))
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "roles": ";".join(r["roles"]), "zone": r["zone"] or ""})
    return buf.getvalue()


async def apply(
    pool: asyncpg.Pool, plan: ImportPlan, *, by: str, reason: str = ""
) -> dict[str, list[str]]:
    """Write the plan in one transaction; each real change becomes a `people.changed`."""
    done: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    async with pool.acquire() as conn, conn.transaction():
        for person in plan.people:
            before = await conn.fetchrow(
                f"SELECT * FROM {SCHEMA}.people WHERE account=$1 FOR UPDATE", person.account
            )
            change = await _put(conn, person, before, by=by, reason=reason)
            new_hash = plan.hashes.get(person.account)
            if new_hash and (before is None or before["password_hash"] != new_hash):
                await conn.execute(
                    f"UPDATE {SCHEMA}.people SET password_hash=$2, password_changed_at=now() "
                    "WHERE account=$1",
                    person.account,
                    new_hash,
                )
            done[change or "unchanged"].append(person.account)
    return done


async def put_person(
    pool: asyncpg.Pool, person: PersonRecord, *, by: str, reason: str = ""
) -> str | None:
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.people WHERE account=$1 FOR UPDATE", person.account
        )
        return await _put(conn, person, before, by=by, reason=reason)


async def _put(
    conn: asyncpg.Connection,
    person: PersonRecord,
    before: asyncpg.Record | None,
    *,
    by: str,
    reason: str,
) -> str | None:
    if before is not None and _record(before) == person:
        return None
    await conn.execute(
        f"INSERT INTO {SCHEMA}.people (account, name, department, roles, zone, phone, email, "
        "shift, disabled) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (account) DO UPDATE "
        "SET name=$2, department=$3, roles=$4, zone=$5, phone=$6, email=$7, shift=$8, "
        "disabled=$9, updated_at=now()",
        person.account, person.name, person.department, person.roles, person.zone,
        person.phone, person.email, person.shift, person.disabled,
    )  # fmt: skip
    change: Literal["created", "updated", "disabled", "enabled"]
    if before is None:
        change = "created"
    elif person.disabled != before["disabled"]:
        change = "disabled" if person.disabled else "enabled"
    else:
        change = "updated"
    if person.disabled:
        await _revoke_all(conn, person.account)
    await stage(conn, SCHEMA, PersonChanged(person=person, change=change, by=by, reason=reason),
                source="console", key=person.account, actor=by)  # fmt: skip
    return change


async def set_password(
    pool: asyncpg.Pool, account: str, password_hash: str, *, by: str, reason: str = ""
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE {SCHEMA}.people SET password_hash=$2, password_changed_at=now(), "
            "failed_logins=0, locked_until=NULL WHERE account=$1 RETURNING *",
            account,
            password_hash,
        )
        if row is None:
            raise LookupError(f"no person {account!r}")
        await stage(conn, SCHEMA,
                    PersonChanged(person=_record(row), change="password", by=by, reason=reason),
                    source="console", key=account, actor=by)  # fmt: skip


# --- sign-on -------------------------------------------------------------------------------


class Throttle:
    """Failed sign-ons per remote address in a sliding window: past the limit, refuse before
    even checking the password (200 wrong passwords in a row were once accepted)."""

    def __init__(self, limit: int = 10, window: timedelta = timedelta(minutes=10)) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[datetime]] = {}

    def blocked(self, remote: str, now: datetime) -> bool:
        q = self._failures.get(remote)
        while q and now - q[0] > self.window:
            q.popleft()
        return q is not None and len(q) >= self.limit

    def failed(self, remote: str, now: datetime) -> None:
        self._failures.setdefault(remote, deque()).append(now)


async def authenticate(
    pool: asyncpg.Pool, account: str, password: str, *, via: str, remote: str = ""
) -> tuple[User | None, str]:
    """Check a local password with lockout; record the attempt. (user, reason) — the reason
    is for the audit log; the person only ever sees 'wrong account or password' or 'locked'."""
    now = datetime.now(UTC)
    account = account.strip()[:128]
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.people WHERE account=$1 FOR UPDATE", account
        )
        user: User | None = None
        if row is None:
            check_password(password, _DUMMY_HASH)
            reason = "unknown account"
        elif row["locked_until"] is not None and row["locked_until"] > now:
            reason = "locked"
        elif row["disabled"]:
            reason = "disabled"
        elif not check_password(password, row["password_hash"]):
            reason = "wrong password" if row["password_hash"] else "no local password"
            failed = row["failed_logins"] + 1
            if failed >= LOCK_AFTER:
                reason = f"wrong password; locked for {int(LOCK_FOR.total_seconds() // 60)} min"
                await conn.execute(
                    f"UPDATE {SCHEMA}.people SET failed_logins=0, locked_until=$2 WHERE account=$1",
                    account,
                    now + LOCK_FOR,
                )
            else:
                await conn.execute(
                    f"UPDATE {SCHEMA}.people SET failed_logins=$2 WHERE account=$1",
                    account,
                    failed,
                )
        else:
            reason = ""
            user = _user(row)
            await conn.execute(
                f"UPDATE {SCHEMA}.people SET failed_logins=0, locked_until=NULL WHERE account=$1",
                account,
            )
        await record_login(conn, account, via=via, ok=user is not None, reason=reason,
                           remote=remote)  # fmt: skip
    return user, reason


async def record_login(
    conn: asyncpg.Connection | asyncpg.Pool, account: str, *, via: str, ok: bool, reason: str,
    remote: str,
) -> None:  # fmt: skip
    event = LoginRecorded(account=account or "-", via=via, ok=ok, reason=reason,  # type: ignore[arg-type]
                          remote=remote[:64], at=datetime.now(UTC))  # fmt: skip
    key = "".join(c if c.isalnum() or c in "_-" else "_" for c in account)[:64] or "-"
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c, c.transaction():
            await stage(c, SCHEMA, event, source="console", key=key, actor=account or "-")
    else:
        await stage(conn, SCHEMA, event, source="console", key=key, actor=account or "-")


# --- sessions ------------------------------------------------------------------------------


def _hash_sid(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


async def open_session(
    pool: asyncpg.Pool, account: str, *, via: str, ttl: timedelta
) -> tuple[str, str]:
    """A new session: (the cookie's random id, its CSRF token). Only the id's hash is kept."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await pool.execute(
        f"INSERT INTO {SCHEMA}.sessions (id_hash, account, csrf, via, expires_at) "
        "VALUES ($1,$2,$3,$4,$5)",
        _hash_sid(sid), account, csrf, via, datetime.now(UTC) + ttl,
    )  # fmt: skip
    return sid, csrf


async def session_user(pool: asyncpg.Pool, sid: str) -> tuple[User, str, str] | None:
    """(user, csrf, via) for a live session of an enabled person; None otherwise."""
    row = await pool.fetchrow(
        f"UPDATE {SCHEMA}.sessions s SET last_seen=now() FROM {SCHEMA}.people p "
        "WHERE s.id_hash=$1 AND s.revoked_at IS NULL AND s.expires_at > now() "
        "AND p.account = s.account AND NOT p.disabled "
        "RETURNING p.*, s.csrf, s.via",
        _hash_sid(sid),
    )
    if row is None:
        return None
    return _user(row), row["csrf"], row["via"]


async def revoke(pool: asyncpg.Pool, sid: str) -> None:
    await pool.execute(
        f"UPDATE {SCHEMA}.sessions SET revoked_at=now() WHERE id_hash=$1 AND revoked_at IS NULL",
        _hash_sid(sid),
    )


async def _revoke_all(conn: asyncpg.Connection | asyncpg.Pool, account: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.sessions SET revoked_at=now() WHERE account=$1 AND revoked_at IS NULL",
        account,
    )


async def revoke_all(pool: asyncpg.Pool, account: str) -> None:
    await _revoke_all(pool, account)
