"""Stand-in for the campus one-card repair system (海软易校园一卡通报修系统), Art. 4.

A small HTTP service with its own ticket store (SQLite), speaking the API our adapter
(services/health/repair.py) uses. `external_ref` makes ticket creation idempotent.
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

SCHEMA = """
CREATE TABLE IF NOT EXISTS repairs (
  repair_no TEXT PRIMARY KEY,
  external_ref TEXT UNIQUE NOT NULL,
  category TEXT NOT NULL,
  title TEXT NOT NULL,
  location TEXT NOT NULL,
  description TEXT NOT NULL,
  reporter TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  closed_at TEXT,
  resolution TEXT
)
"""
REQUIRED = ("external_ref", "title", "location")


class RepairStore:
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute(SCHEMA)
        self.db.commit()

    def create(self, body: dict[str, str]) -> tuple[dict[str, str], bool]:
        existing = self.by_ref(body["external_ref"])
        if existing:
            return existing, False
        now = datetime.now(UTC)
        count = self.db.execute("SELECT count(*) FROM repairs").fetchone()[0]
        repair_no = f"BX{now:%Y%m%d}{count + 1:05d}"
        self.db.execute(
            "INSERT INTO repairs VALUES (?,?,?,?,?,?,?,?,?,NULL,NULL)",
            (
                repair_no,
                body["external_ref"],
                body.get("category", "视频监控"),
                body["title"],
                body["location"],
                body.get("description", ""),
                body.get("reporter", ""),
                "待受理",
                now.isoformat(),
            ),
        )
        self.db.commit()
        return self.get(repair_no) or {}, True

    def by_ref(self, ref: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT * FROM repairs WHERE external_ref=?", (ref,)).fetchone()
        return dict(row) if row else None

    def get(self, repair_no: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT * FROM repairs WHERE repair_no=?", (repair_no,)).fetchone()
        return dict(row) if row else None

    def all(self) -> list[dict[str, str]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM repairs ORDER BY created_at")]

    def close(self, repair_no: str, resolution: str) -> dict[str, str] | None:
        self.db.execute(
            "UPDATE repairs SET status='已完成', closed_at=?, resolution=? "
            "WHERE repair_no=? AND closed_at IS NULL",
            (datetime.now(UTC).isoformat(), resolution, repair_no),
        )
        self.db.commit()
        return self.get(repair_no)


def build_app(store: RepairStore) -> web.Application:
    async def create(req: web.Request) -> web.Response:
        try:
            body = await req.json()
        except ValueError:
            return web.json_response({"error": "请求体不是 JSON — body is not JSON"}, status=400)
        missing = [k for k in REQUIRED if not isinstance(body, dict) or not body.get(k)]
        if missing:
            return web.json_response({"error": f"缺少字段 missing fields: {missing}"}, status=400)
        ticket, created = store.create(body)
        return web.json_response(ticket, status=201 if created else 200)

    async def listing(req: web.Request) -> web.Response:
        ref = req.query.get("external_ref")
        if ref:
            found = store.by_ref(ref)
            return web.json_response([found] if found else [])
        return web.json_response(store.all())

    async def close(req: web.Request) -> web.Response:
        body = await req.json() if req.can_read_body else {}
        ticket = store.close(req.match_info["repair_no"], str(body.get("resolution", "")))
        if ticket is None:
            return web.json_response({"error": "no such repair"}, status=404)
        return web.json_response(ticket)

    app = web.Application()
    app.add_routes(
        [
            web.post("/api/v1/repairs", create),
            web.get("/api/v1/repairs", listing),
            web.post("/api/v1/repairs/{repair_no}/close", close),
        ]
    )
    return app


async def serve(store: RepairStore, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(store), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def main() -> None:
    import asyncio

    parser = argparse.ArgumentParser(description="one-card repair system stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--db", default="repairs.sqlite")
    args = parser.parse_args()

    async def run() -> None:
        await serve(RepairStore(args.db), args.host, args.port)
        print(f"repair stand-in on http://{args.host}:{args.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
