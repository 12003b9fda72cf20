"""Stand-in for a WeCom/DingTalk group robot: records every webhook it receives."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from aiohttp import web


def build_app(log_path: Path | None) -> web.Application:
    received: list[dict[str, object]] = []

    async def hook(req: web.Request) -> web.Response:
        try:
            body = await req.json()
        except ValueError:
            return web.json_response({"errcode": 40001, "errmsg": "invalid json"}, status=400)
        entry = {"robot": req.match_info["robot"], "body": body}
        received.append(entry)
        if log_path:
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def listing(_req: web.Request) -> web.Response:
        return web.json_response(received)

    app = web.Application()
    app.add_routes([web.post("/robot/{robot}", hook), web.get("/received", listing)])
    return app


async def serve(host: str, port: int, log_path: Path | None = None) -> web.AppRunner:
    runner = web.AppRunner(build_app(log_path), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook robot stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()

    async def run() -> None:
        await serve(args.host, args.port, Path(args.log) if args.log else None)
        print(f"webhook sink on http://{args.host}:{args.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
