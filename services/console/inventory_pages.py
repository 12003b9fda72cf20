"""Console pages for the camera inventory (issue #5): browse, edit one camera, import a file,
export. Ingest owns the inventory; every save goes through its import request-reply, so the
console and `cctv inventory import` validate alike (row, column, reason) and every change is an
event. Only the NIC's system administrators (系统管理人员) may change it.
"""

from __future__ import annotations

from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from cctv.contract import rpc
from cctv.contract.orgs import CATEGORIES, DEPARTMENTS, SENSITIVITY
from cctv.plumbing.uploads import MAX_UPLOAD_BYTES, UploadRejected, decode_text, too_large

from .security import guarded_route
from .web import console_of as _console
from .web import templates

EDITORS = {"sysadmin"}
FIELDS = (
    ("camera_id", "编号", "Camera id"),
    ("name", "名称", "Name"),
    ("system_id", "所属系统（附件1）", "System (Annex 1)"),
    ("department", "所属部门", "Department"),
    ("managing_department", "管理部门", "Managing department"),
    ("category", "类别", "Category"),
    ("sensitivity", "敏感标签", "Sensitivity tags"),
    ("building", "楼宇", "Building"),
    ("position", "位置", "Position"),
    ("zone", "区域", "Zone"),
    ("brand", "品牌", "Brand"),
    ("protocol", "协议", "Protocol"),
    ("address", "设备地址", "Device address"),
    ("nvr_id", "录像机", "NVR"),
    ("channel", "通道", "Channel"),
    ("storage_location", "存储位置", "Storage location"),
    ("monitoring_level", "监控级别", "Monitoring level"),
    ("stream_url", "码流地址（可空）", "Stream URL (optional)"),
)
CHOICES: dict[str, list[str]] = {
    "department": list(DEPARTMENTS),
    "managing_department": list(DEPARTMENTS),
    "category": list(CATEGORIES),
    "brand": ["hikvision", "dahua", "jingyeda", "onvif", "rtsp"],
    "protocol": ["isapi", "dahua", "onvif", "rtsp"],
    "monitoring_level": ["", "school", "department"],
}
templates.env.globals.update(
    CATEGORIES=CATEGORIES,
    SENSITIVITY=SENSITIVITY,
    FIELDS=FIELDS,
    CHOICES=CHOICES,
)


def camera_from_form(form: dict[str, str]) -> dict[str, Any]:
    """One camera mapping in the inventory file's shape; ingest validates it."""
    cam: dict[str, Any] = {k: form.get(k, "").strip() for k, _zh, _en in FIELDS}
    cam["sensitivity"] = [t for t in form.get("sensitivity", "").replace("，", ",").split(",") if t]
    for optional in ("nvr_id", "channel", "monitoring_level", "stream_url"):
        if not cam[optional]:
            cam[optional] = None
    return cam


async def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
    user = await _console(request).user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    ctx = {"user": user, "can_edit": user.role in EDITORS, **ctx}
    return templates.TemplateResponse(request, name, ctx, status_code=status)


async def _editor(request: Request) -> Any:
    user = await _console(request).user(request)
    return user if user is not None and user.role in EDITORS else None


async def index(request: Request) -> Response:
    building = request.query_params.get("building") or None
    console = _console(request)
    everything = await console.ask(rpc.INGEST_CAMERAS, {})
    cams = [c for c in everything.get("cameras", []) if building in (None, c["building"])]
    return await _page(
        request,
        "inventory/index.html",
        cameras=cams,
        buildings=sorted({c["building"] for c in everything.get("cameras", [])}),
        building=building,
        error=None if everything.get("ok") else everything.get("error"),
        saved=request.query_params.get("saved"),
        removed=request.query_params.get("removed"),
        result=None,
    )


async def edit(request: Request) -> Response:
    camera_id = request.path_params["camera_id"]
    reply = await _console(request).ask(rpc.INGEST_CAMERAS, {"camera_id": camera_id})
    cams = reply.get("cameras", [])
    if not cams and camera_id != "new":
        return await _page(
            request,
            "inventory/edit.html",
            404,
            camera=None,
            error=f"无此摄像机 no camera {camera_id}",
        )
    return await _page(request, "inventory/edit.html", camera=cams[0] if cams else None, error=None)


async def save(request: Request) -> Response:
    user = await _editor(request)
    if user is None:
        return Response("仅系统管理人员可修改清单 — only NIC system administrators edit", 403)
    form = {k: str(v) for k, v in (await request.form()).items()}
    camera = camera_from_form(form)
    content = yaml.safe_dump({"cameras": [camera]}, allow_unicode=True, sort_keys=False)
    reply = await _console(request).ask(
        rpc.INGEST_INVENTORY_IMPORT,
        {"filename": "console.yaml", "content": content, "actor": user.account},
    )
    if not reply.get("ok"):
        return await _page(
            request, "inventory/edit.html", 422, camera=camera, error=reply.get("error")
        )
    return RedirectResponse(f"/inventory?saved={camera['camera_id']}", status_code=303)


async def remove(request: Request) -> Response:
    user = await _editor(request)
    if user is None:
        return Response("仅系统管理人员可移除摄像机 — only NIC system administrators remove", 403)
    camera_id = request.path_params["camera_id"]
    reason = str((await request.form()).get("reason", "")).strip()
    reply = await _console(request).ask(
        rpc.INGEST_INVENTORY_REMOVE,
        {"camera_id": camera_id, "reason": reason, "actor": user.account},
    )
    if not reply.get("ok"):
        found = await _console(request).ask(rpc.INGEST_CAMERAS, {"camera_id": camera_id})
        camera = (found.get("cameras") or [None])[0]
        return await _page(request, "inventory/edit.html", 422, camera=camera, error=reply["error"])
    return RedirectResponse(f"/inventory?removed={camera_id}", status_code=303)


async def upload(request: Request) -> Response:
    user = await _editor(request)
    if user is None:
        return Response("仅系统管理人员可导入清单 — only NIC system administrators import", 403)
    length = request.headers.get("content-length", "")
    # refused before the body is read: the limit plus room for the form's own fields
    if length.isdigit() and (refusal := too_large(int(length), MAX_UPLOAD_BYTES + 16384)):
        return await _page(
            request, "inventory/index.html", 413, cameras=[], buildings=[], building=None,
            error=refusal, saved=None, result=None,
        )  # fmt: skip
    form = await request.form()
    file = form.get("file")
    if file is None or isinstance(file, str):
        return await _page(
            request, "inventory/index.html", 422, cameras=[], buildings=[], building=None,
            error="请选择文件 choose a .csv or .yaml file", saved=None, result=None,
        )  # fmt: skip
    try:
        if refusal := too_large(file.size or 0):
            raise UploadRejected(refusal)
        text, _encoding = decode_text(await file.read(MAX_UPLOAD_BYTES + 1), file.filename or "")
    except UploadRejected as exc:  # GBK is read as GBK; anything else refused, never mojibake
        return await _page(
            request, "inventory/index.html", 422, cameras=[], buildings=[], building=None,
            error=str(exc), saved=None, result=None,
        )  # fmt: skip
    reply = await _console(request).ask(
        rpc.INGEST_INVENTORY_IMPORT,
        {
            "filename": file.filename or "upload.csv",
            "content": text,
            "dry_run": form.get("dry_run") == "on",
            "actor": user.account,
        },
    )
    return await _page(
        request, "inventory/index.html", 200 if reply.get("ok") else 422,
        cameras=[], buildings=[], building=None, saved=None,
        error=None if reply.get("ok") else reply.get("error"),
        result=reply if reply.get("ok") else None,
    )  # fmt: skip


async def export(request: Request) -> Response:
    if await _console(request).user(request) is None:
        return RedirectResponse("/login", status_code=303)
    fmt = request.path_params["fmt"]
    reply = await _console(request).ask(rpc.INGEST_INVENTORY_EXPORT, {"format": fmt})
    if not reply.get("ok"):
        return Response(str(reply.get("error")), status_code=422)
    media = "text/csv" if fmt == "csv" else "application/yaml"
    return Response(
        reply["content"],
        media_type=f"{media}; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="cameras.{fmt}"'},
    )


# Art. 3: only system administrators change the inventory
routes: list[BaseRoute] = [
    guarded_route("/inventory", index, "inventory.view", methods=["GET"]),
    guarded_route("/inventory/import", upload, "inventory.edit", methods=["POST"]),
    guarded_route("/inventory/export.{fmt:str}", export, "inventory.view", methods=["GET"]),
    guarded_route("/inventory/{camera_id:str}", edit, "inventory.view", methods=["GET"]),
    guarded_route("/inventory/{camera_id:str}", save, "inventory.edit", methods=["POST"]),
    guarded_route("/inventory/{camera_id:str}/remove", remove, "inventory.edit", methods=["POST"]),
]
