"""The responder shell (issue 8): a request is decoded and validated once against its contract
model, the handler gets a typed object and the call's headers, and every failure is answered
in the one error shape (code, Chinese, English, article) -- never left to time out."""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

import nats
from pydantic import Field

from cctv.contract.rpcmodels import ErrorReply, RpcCall, RpcReply, RpcRequest
from cctv.plumbing.service import RpcError, Service
from cctv.plumbing.settings import ServiceSettings


class Ping(RpcRequest):
    ARTICLES: ClassVar[dict[str, str]] = {"camera_id": "Art. 12"}
    camera_id: str = Field(min_length=1)
    count: int = 1


class Pong(RpcReply):
    camera_id: str
    count: int
    who: str | None


async def test_typed_requests_and_one_error_shape(nats_url: str, database_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    svc = Service("shelltest", ServiceSettings(nats_url=nats_url, database_url=database_url))
    seen: list[Any] = []

    async def typed(req: Ping, call: RpcCall) -> Pong:
        seen.append(req)
        if req.camera_id == "refuse":
            raise RpcError.bilingual("tamper_open", "遮挡未处理", "tampering still open", "Art. 12")
        if req.camera_id == "crash":
            raise RuntimeError("boom")
        return Pong(camera_id=req.camera_id, count=req.count, who=call.headers.get("cctv-who"))

    async def legacy(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("x") == "old":
            raise RpcError("旧式错误 old-style error", "Art. 9")
        return {"echo": req["x"]}

    svc.respond(f"test.shell.{tag}.typed", typed, request=Ping)
    svc.respond(f"test.shell.{tag}.legacy", legacy)
    await svc.broker.start()
    nc = await nats.connect(nats_url)
    try:

        async def ask(what: str, body: Any, headers: dict[str, str] | None = None) -> Any:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            msg = await nc.request(f"test.shell.{tag}.{what}", raw, timeout=5, headers=headers)
            return json.loads(msg.data)

        ok = await ask("typed", {"camera_id": "c1", "count": "3", "extra": 1}, {"cctv-who": "u1"})
        assert ok == {"ok": True, "camera_id": "c1", "count": 3, "who": "u1"}
        assert isinstance(seen[0], Ping) and seen[0].count == 3  # typed, coerced once

        for body, field in (({}, "camera_id"), ({"camera_id": ""}, "camera_id"),
                            ({"camera_id": "c", "count": "many"}, "count")):  # fmt: skip
            bad = await ask("typed", body)
            ErrorReply.model_validate(bad)
            assert bad["ok"] is False and bad["code"] == "invalid_request", bad
            assert bad["field"] == field and field in bad["text_zh"] and field in bad["text_en"]
        assert (await ask("typed", {}))["article"] == "Art. 12"  # the field's article
        assert (await ask("typed", {"camera_id": "c", "count": "x"}))["article"] is None

        garbage = await ask("typed", b"\x00\xffnot json")
        assert garbage["code"] == "invalid_request" and "bad request" in garbage["error"]
        array = await ask("typed", [1, 2])
        assert array["code"] == "invalid_request" and "JSON object" in array["error"]

        refused = ErrorReply.model_validate(await ask("typed", {"camera_id": "refuse"}))
        assert (refused.code, refused.text_zh, refused.text_en, refused.article) == (
            "tamper_open", "遮挡未处理", "tampering still open", "Art. 12"
        )  # fmt: skip
        assert refused.error == "遮挡未处理 — tampering still open (Art. 12)"

        crashed = await ask("typed", {"camera_id": "crash"})
        assert crashed["code"] == "internal" and "boom" in crashed["text_en"]

        # the client side: a contract model as the body, identity in the headers
        via_service = await svc.request(
            f"test.shell.{tag}.typed", Ping(camera_id="c2"), headers={"cctv-who": "u2"}
        )
        assert via_service == {"ok": True, "camera_id": "c2", "count": 1, "who": "u2"}

        assert await ask("legacy", {"x": 1}) == {"ok": True, "echo": 1}
        old = ErrorReply.model_validate(await ask("legacy", {"x": "old"}))
        assert old.code == "refused" and old.article == "Art. 9"
        assert old.error == "旧式错误 old-style error (Art. 9)"
        not_object = await ask("legacy", [1, 2])
        assert not_object["code"] == "bad_request" and not not_object["ok"]
        missing = await ask("legacy", {})
        assert missing["code"] == "bad_request" and "'x'" in missing["text_en"]
    finally:
        await nc.close()
        await svc.broker.stop()
