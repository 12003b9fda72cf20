"""Derive the approval chain of a footage-access request from the inventory (Art. 16).

The requester never types an approver: the chain follows from who is asking (internal unit,
police, judiciary, education authority), the method (查阅 view / 拷贝 copy) and, for each
camera, its category, sensitivity tags and owning department. The same function shows the
chain before submission and fixes it at submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from . import refusals as r
from .approval import Step
from .inventory import SENSITIVITY_ZH, CameraInfo, Inventory
from .org import (
    COPY_ALLOWED_EXTERNAL,
    EXTERNAL_ALLOWED,
    LOGISTICS,
    BodyKind,
    Role,
    department_en,
    department_zh,
)


class Method(StrEnum):
    VIEW = "view"  # 查阅
    COPY = "copy"  # 拷贝


METHOD_ZH = {Method.VIEW: "查阅", Method.COPY: "拷贝"}


def check_admissible(
    body: BodyKind,
    method: Method,
    *,
    letter_ref: str | None,
    id_checked: bool,
    case_number: str | None,
) -> None:
    """Refuse, naming the article, what Art. 16 does not accept at all."""
    if body is BodyKind.PERSONAL:
        raise r.personal_capacity()
    if body is BodyKind.INTERNAL:
        return
    if body not in EXTERNAL_ALLOWED:
        raise r.external_not_entitled(body.value)
    if not (letter_ref or "").strip():
        raise r.letter_required()
    if not id_checked:
        raise r.id_required()
    if method is Method.COPY:
        if body not in COPY_ALLOWED_EXTERNAL:
            raise r.copy_not_allowed(body.value)
        if not (case_number or "").strip():
            raise r.case_number_required()


def _parts(cams: Sequence[CameraInfo]) -> dict[str, list[str]]:
    """Cameras grouped by approving department, departments in a stable (sorted) order."""
    parts: dict[str, list[str]] = {}
    for c in cams:
        parts.setdefault(c.approving_department, []).append(c.camera_id)
    return {k: parts[k] for k in sorted(parts)}


def _leader_step(stage: int, sensitive: list[CameraInfo], external: bool) -> Step:
    if external:
        why = "校外单位调阅须报分管校领导审批 (Art. 16(2)2)"
    else:
        tags = sorted({SENSITIVITY_ZH[t] for c in sensitive for t in c.sensitivity})
        why = f"涉及{'、'.join(tags)}，需经学校分管领导批准 (Art. 16(1)2)"
    return Step(
        key="leader",
        stage=stage,
        role=Role.LEADER,
        department=None,
        title_zh="院领导意见",
        title_en="school leader in charge",
        why=why,
        cameras=[c.camera_id for c in sensitive],
    )


def derive_access_chain(
    inventory: Inventory,
    *,
    body: BodyKind,
    applying_unit: str,
    method: Method,
    camera_ids: Sequence[str],
    letter_ref: str | None = None,
    id_checked: bool = False,
    case_number: str | None = None,
) -> list[Step]:
    """The exact chain a request must go through, or a Refusal/InvalidInput.

    Internal: unit head → each managing department (in parallel, one stage) → school leader if
    any camera is sensitive. When the applying unit is itself the managing department of some
    cameras, its head's signature covers both boxes (nobody signs twice, Art. 16(1)1 last
    clause). External (Art. 16(2)2): head of 后勤处 for every camera → school leader in charge,
    nothing in between. Stages are numbered without gaps.
    """
    check_admissible(
        body, method, letter_ref=letter_ref, id_checked=id_checked, case_number=case_number
    )
    if not camera_ids:
        raise r.missing_field("cameras", "调阅内容（摄像机）", "Art. 16")
    if len(set(camera_ids)) != len(camera_ids):
        raise r.duplicate_camera()
    cams = [inventory.get(cid) for cid in camera_ids]
    sensitive = [c for c in cams if c.sensitive]
    parts = _parts(cams)
    steps: list[Step] = []

    if body is BodyKind.INTERNAL:
        if not applying_unit:
            raise r.missing_field("applying_unit", "申请单位", "Art. 16")
        own = parts.pop(applying_unit, [])
        steps.append(
            Step(
                key="unit",
                stage=1,
                role=Role.HEAD,
                department=applying_unit,
                title_zh="单位意见" + ("（兼管理部门意见）" if own else ""),
                title_en=f"head of {department_en(applying_unit)}"
                + (" (also as managing department)" if own else ""),
                why="部门主要负责人签字并加盖部门公章 (Art. 16(1)1)",
                cameras=own,
            )
        )
        stage = 2
        if parts:
            for dept, ids in parts.items():
                steps.append(_managing_step(dept, ids, stage))
            stage += 1
        if sensitive:
            steps.append(_leader_step(stage, sensitive, external=False))
        return steps

    # External body (police, judiciary, education authority) with letter and ID. Art. 16(2)2:
    # 经后勤处主要负责人批准同意报分管院领导审批 — the head of 后勤处 approves the whole request,
    # then the school leader in charge; no managing department's head in between.
    steps.append(
        Step(
            key=f"managing:{LOGISTICS}",
            stage=1,
            role=Role.HEAD,
            department=LOGISTICS,
            title_zh="管理部门意见（后勤处主要负责人）",
            title_en="head of the Logistics Office (approves outside bodies' requests)",
            why="校外单位调阅须经后勤处主要负责人批准同意 (Art. 16(2)2)",
            cameras=[c.camera_id for c in cams],
        )
    )
    steps.append(_leader_step(2, cams, external=True))
    return steps


def _managing_step(dept: str, ids: list[str], stage: int) -> Step:
    return Step(
        key=f"managing:{dept}",
        stage=stage,
        role=Role.HEAD,
        department=dept,
        title_zh=f"管理部门意见（{department_zh(dept)}）",
        title_en=f"managing department: {department_en(dept)}",
        why=f"{department_zh(dept)}负责审批其管理的视频资料 (Art. 16(1)1)",
        cameras=ids,
    )


def chain_summary(steps: Sequence[Step]) -> list[tuple[int, str, str | None]]:
    """(stage, role, department) triples: the compact shape tests and previews compare."""
    return [(s.stage, s.role.value, s.department) for s in steps]
