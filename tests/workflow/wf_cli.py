"""Running the operators' CLI from a workflow test, as an operator would: a process of its
own (`python -m cctv.cli.main`), answers read from its output."""

from __future__ import annotations

import asyncio
import sys


async def run_cctv(
    env: dict[str, str], *argv: str, stdin: str | None = None, ok: bool = True
) -> str:
    """`cctv ARGV` with `env`; its stdout when it succeeds, its stderr when it must fail
    (`ok=False`); the other outcome fails the test with what the CLI said."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cctv.cli.main",
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin else None)
    assert (proc.returncode == 0) is ok, (out.decode(), err.decode())
    return out.decode() if ok else err.decode()
