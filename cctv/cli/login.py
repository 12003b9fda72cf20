"""`cctv login | logout | whoami`: the CLI acts for a person only after they sign on.

`cctv login` sends the account and password to the console (`cctv.rpc.console.login`), which
checks them like the login page does (lockout, audit) and answers with a short-lived signed
identity token; it is kept in $CCTV_HOME/cli-token.json (0600) and sent with every request.
A service credential (a token NIC issues for automation) can be given as CCTV_TOKEN instead.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cctv.contract.campustime import parse_instant
from cctv.contract.people import CONSOLE_LOGIN
from cctv.plumbing.settings import cctv_home

from .main import CliError


def token_file() -> Path:
    return cctv_home() / "cli-token.json"


def current_token() -> str | None:
    """The token to send: CCTV_TOKEN, else the one `cctv login` kept, if not expired."""
    if os.environ.get("CCTV_TOKEN"):
        return os.environ["CCTV_TOKEN"]
    path = token_file()
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        expires = parse_instant(kept["expires_at"], "expires_at", naive="utc")
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: log in again rather than fail every command
    if expires <= datetime.now(UTC):
        return None
    return str(kept["token"])


def cmd_login(args: argparse.Namespace) -> int:
    from .common import request

    account = args.account or input("账号 account: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 password: ")
    reply = request(CONSOLE_LOGIN, {"account": account, "password": password}, identity=False)
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({k: reply[k] for k in ("token", "expires_at", "account", "name", "roles")}, fh)
    print(f"已登录 signed on as {reply['account']} ({reply['name']}) until {reply['expires_at']}")
    return 0


def cmd_logout(_args: argparse.Namespace) -> int:
    token_file().unlink(missing_ok=True)
    print("已退出 signed off")
    return 0


def whoami() -> dict[str, Any] | None:
    try:
        kept: dict[str, Any] = json.loads(token_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept


def cmd_whoami(_args: argparse.Namespace) -> int:
    kept = whoami()
    if os.environ.get("CCTV_TOKEN"):
        print("CCTV_TOKEN (service credential)")
    elif kept is None:
        raise CliError("未登录 not signed on: run `cctv login`")
    else:
        print(
            f"{kept['account']} {kept['name']} {','.join(kept['roles'])} until {kept['expires_at']}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("login", help="登录 sign on (the CLI then acts for you)")
    p.add_argument("--account")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="退出 forget the CLI's sign-on")
    p.set_defaults(func=cmd_logout)
    p = sub.add_parser("whoami", help="who the CLI acts for")
    p.set_defaults(func=cmd_whoami)
