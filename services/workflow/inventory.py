"""What the workflow knows about cameras: the fields that decide who approves.

The workflow never reads ingest's tables; it keeps this view from the camera inventory events
(phase 2). Field names match the contract's ``CameraRecord`` so a record validates straight
into :class:`CameraInfo` (unknown fields are ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from cctv.contract import regulation

from . import refusals as r


class Category(StrEnum):
    PUBLIC_SAFETY = "public_safety"  # 公共安全
    TEACHING_EXAM = "teaching_exam"  # 教学、实训、考试
    DORMITORY = "dormitory"  # 学生宿舍区
    DEPARTMENT = "department"  # 部门视频监控子系统
    CONFIDENTIAL = "confidential"  # 保密室


class Sensitivity(StrEnum):
    PRIVACY = "privacy"  # 个人隐私
    NATIONAL_EXAM = "national_exam"  # 国家教育考试
    EXAM_PAPER_VAULT = "exam_paper_vault"  # 试卷保密室
    KEY_POINT = "key_point"  # 重点监控部位


SENSITIVITY_ZH = {
    Sensitivity.PRIVACY: "师生个人隐私",
    Sensitivity.NATIONAL_EXAM: "国家教育考试",
    Sensitivity.EXAM_PAPER_VAULT: "试卷保密室",
    Sensitivity.KEY_POINT: "重点监控部位",
}

CATEGORY_ZH = {
    Category.PUBLIC_SAFETY: "校内公共安全",
    Category.TEACHING_EXAM: "课堂教学与考试",
    Category.DORMITORY: "学生宿舍区",
    Category.DEPARTMENT: "部门子系统",
    Category.CONFIDENTIAL: "保密室子系统",
}

# Art. 16(1)1 and Art. 4: who manages (and so approves access to) each public category.
CATEGORY_MANAGER = regulation.CATEGORY_MANAGER


class CameraInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    camera_id: str
    name: str = ""
    system_id: str | None = None
    department: str  # owning department
    managing_department: str | None = None
    category: Category
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    building: str = ""
    position: str = ""
    zone: str = ""
    monitoring_level: str | None = None

    @property
    def approving_department(self) -> str:
        """The department whose head approves access to this camera (Art. 16(1)1).

        The category decides for the public system; a department's own subsystem (and a
        confidential room) is approved by its owning department's head. The regulation, not a
        possibly stale ``managing_department`` cell, has the last word for public categories.
        """
        return regulation.managing_department(self.category, self.department)

    @property
    def sensitive(self) -> bool:
        return bool(self.sensitivity)


class Inventory:
    """Cameras by id; the service fills it from inventory events, tests from lists."""

    def __init__(self, cameras: Iterable[CameraInfo] = ()) -> None:
        self._cams: dict[str, CameraInfo] = {c.camera_id: c for c in cameras}

    def upsert(self, cam: CameraInfo) -> None:
        self._cams[cam.camera_id] = cam

    def remove(self, camera_id: str) -> None:
        self._cams.pop(camera_id, None)

    def get(self, camera_id: str, article: str = "Art. 16") -> CameraInfo:
        try:
            return self._cams[camera_id]
        except KeyError:
            raise r.unknown_camera(camera_id, article) from None

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self._cams

    def __len__(self) -> int:
        return len(self._cams)

    def all(self) -> list[CameraInfo]:
        return list(self._cams.values())

    def in_rooms(self, building: str, rooms: Iterable[str]) -> list[CameraInfo]:
        """Cameras whose position names one of the rooms (exam rooms, Art. 10)."""
        wanted = [x for x in rooms if x]
        return [
            c
            for c in self._cams.values()
            if c.building == building and any(room in c.position for room in wanted)
        ]
