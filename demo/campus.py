"""The demo campus: Annex 1 (附件1) systems expanded into individual cameras.

Each row of the real inventory becomes a plausible set of cameras with Chinese names,
buildings, positions, the category that decides who approves access (Art. 16), sensitivity
tags and a patrol zone. Deterministic, so every run and every test sees the same campus.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from datetime import time
from importlib import resources

from cctv.contract import CameraRecord, regulation
from cctv.contract.orgs import BY_CHINESE

ZONES = {
    "teaching": "教学区",
    "living": "生活区",
    "gate": "校门与道路",
}


@dataclass(frozen=True)
class SystemPlan:
    """How one Annex 1 row is expanded. Decisions on blanks in Annex 1 are noted here."""

    code: str
    category: str
    count: int
    places: tuple[tuple[str, str, str], ...]  # (building, position template, zone key)
    sensitivity: tuple[str, ...] = ()
    brand_if_blank: str = "hikvision"


PLANS: dict[int, SystemPlan] = {
    # 党政办 保密室: the confidential room itself is a key monitored point.
    0: SystemPlan(
        "CONF",
        "confidential",
        6,
        (("综合楼", "10楼保密室{n}号位", "teaching"),),
        ("key_point",),
        "dahua",
    ),
    # 教务处 标准化考场 (竞业达): national education exams.
    1: SystemPlan(
        "EXAM",
        "teaching_exam",
        60,
        (
            ("教学楼", "{floor}楼考场{room}前侧", "teaching"),
            ("综合楼", "{floor}楼考场{room}后侧", "teaching"),
            ("科技楼", "{floor}楼考场{room}前侧", "teaching"),
        ),
        ("national_exam",),
    ),
    # 教务处 学校保密室: blank brand/level in Annex 1 -> assumed Hikvision, school level.
    2: SystemPlan(
        "VAULT",
        "confidential",
        4,
        (("综合楼", "10楼试卷保密室{n}号位", "teaching"),),
        ("exam_paper_vault", "key_point"),
    ),
    # 教务处 计算机等级考试 (综合楼404/503/504/604): a national exam, department level.
    3: SystemPlan(
        "NCRE",
        "teaching_exam",
        8,
        (("综合楼", "{ncre_room}室{side}", "teaching"),),
        ("national_exam",),
    ),
    4: SystemPlan(
        "DORM",
        "dormitory",
        80,
        (
            ("{dorm}号学生宿舍", "{floor}楼走廊{dir}", "living"),
            ("{dorm}号学生宿舍", "一楼出入口", "living"),
        ),
    ),
    5: SystemPlan(
        "PUB",
        "public_safety",
        90,
        (
            ("校门", "{gate}向{dir}", "gate"),
            ("校园道路", "{road}朝{dir}", "gate"),
            ("停车场", "{lot}停车场{dir}侧", "gate"),
            ("体育场", "看台{dir}侧", "living"),
        ),
    ),
    6: SystemPlan("OFF", "public_safety", 30, (("综合楼", "{floor}楼走廊{dir}", "teaching"),)),
    7: SystemPlan(
        "CANT", "public_safety", 24, (("第{canteen}食堂", "{floor}楼就餐区{dir}", "living"),)
    ),
    # 科研设备处 实训楼: blank level/user in Annex 1 -> the department's own subsystem.
    8: SystemPlan("LAB", "department", 20, (("实训楼", "{floor}楼实训室{room}", "teaching"),)),
}

_DIRS = ["东", "南", "西", "北"]
_GATES = ["南大门", "北门", "东侧门"]
_ROADS = ["文化路", "学府路", "图强路", "明德路"]
_LOTS = ["行政楼", "东区", "北区"]
_NCRE = ["404", "503", "504", "604"]
_KEY_GATE_POSITIONS = ("南大门",)

BRANDS = {"海康": "hikvision", "大华": "dahua", "竞业达标准化考场": "jingyeda"}
PROTOCOL = {"hikvision": "isapi", "dahua": "dahua", "jingyeda": "onvif"}
LEVEL = {"学校": "school", "部门": "department"}


def annex1_rows() -> list[dict[str, str]]:
    text = resources.files("demo.data").joinpath("annex1_systems.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def _brands(cell: str, fallback: str) -> list[str]:
    found = [b for zh, b in BRANDS.items() if zh in cell]
    return found or [fallback]


def _managing_department(category: str, owner: str) -> str:
    # Art. 16: public safety -> 后勤处, teaching/exams -> 教务处, dormitories -> 学生处;
    # a department's own subsystem (and its confidential room) -> that department.
    return regulation.managing_department(category, owner)


def demo_size() -> int | None:
    """`CCTV_DEMO_CAMERAS=5000 make run`: the demo campus grown to that many cameras (the
    simulator and the stack's inventory both read it), for trying the system at a NIC's scale."""
    raw = os.environ.get("CCTV_DEMO_CAMERAS", "").strip()
    if not raw:
        return None
    try:
        size = int(raw)
    except ValueError:
        raise ValueError(f"CCTV_DEMO_CAMERAS must be a whole number, not {raw!r}") from None
    if not 1 <= size <= 50_000:
        raise ValueError(f"CCTV_DEMO_CAMERAS must be between 1 and 50000, not {size}")
    return size


def generate(address: str = "127.0.0.1:8090", cameras: int | None = None) -> list[CameraRecord]:
    """Every camera of the demo campus, all served by the simulator at `address`.

    With `cameras`, the campus is cut to or grown to that many: copies of the whole campus
    (ids and recorders suffixed `-C2`, `-C3` …) keep each copy's zones, recorders and mix."""
    base = _annex1_campus(address)
    if cameras is None:
        return base
    out = list(base[:cameras])
    copy = 2
    while len(out) < cameras:
        for cam in base[: cameras - len(out)]:
            out.append(
                cam.model_copy(
                    update={
                        "camera_id": f"{cam.camera_id}-C{copy}",
                        "name": f"{cam.name}（{copy}）",
                        "nvr_id": f"{cam.nvr_id}-C{copy}" if cam.nvr_id else None,
                    }
                )
            )
        copy += 1
    return out


def _annex1_campus(address: str) -> list[CameraRecord]:
    rnd = random.Random(20191104)  # the regulation's date of issue
    cameras: list[CameraRecord] = []
    for index, row in enumerate(annex1_rows()):
        plan = PLANS[index]
        owner = BY_CHINESE[row["department"]]
        brands = _brands(row["brand"], plan.brand_if_blank)
        level = LEVEL.get(row["monitoring_level"]) or (
            "department" if plan.category == "department" else "school"
        )
        nvr = f"NVR-{row['storage_location']}-{plan.code}"
        for n in range(1, plan.count + 1):
            building, template, zone = plan.places[(n - 1) % len(plan.places)]
            values = {
                "n": n,
                "floor": rnd.randint(1, 5),
                "room": f"{rnd.randint(1, 5)}{rnd.randint(0, 1)}{rnd.randint(1, 9)}",
                "dir": rnd.choice(_DIRS),
                "dorm": rnd.randint(1, 8),
                "gate": rnd.choice(_GATES),
                "road": rnd.choice(_ROADS),
                "lot": rnd.choice(_LOTS),
                "canteen": 1 + (n % 2),
                "ncre_room": _NCRE[((n - 1) // 2) % len(_NCRE)],
                "side": "前侧" if n % 2 else "后侧",
            }
            building = building.format(**values)
            position = template.format(**values)
            sensitivity = list(plan.sensitivity)
            if plan.code == "PUB" and any(k in position for k in _KEY_GATE_POSITIONS):
                sensitivity.append("key_point")
            if plan.code == "DORM" and "出入口" not in position and n % 10 == 1:
                sensitivity.append("privacy")
            brand = brands[n % len(brands)]
            cameras.append(
                CameraRecord(
                    camera_id=f"{plan.code}-{n:03d}",
                    name=f"{building}{position}",
                    system_id=f"A1-{index + 1:02d}",
                    department=owner,
                    managing_department=_managing_department(plan.category, owner),
                    category=plan.category,  # type: ignore[arg-type]
                    sensitivity=sensitivity,  # type: ignore[arg-type]
                    building=building,
                    position=position,
                    zone=ZONES[zone],
                    brand=brand,  # type: ignore[arg-type]
                    protocol=PROTOCOL[brand],  # type: ignore[arg-type]
                    address=address,
                    nvr_id=nvr,
                    channel=n,
                    storage_location=row["storage_location"],
                    monitoring_level=level,  # type: ignore[arg-type]
                )
            )
    return cameras


# Demo people: console accounts and the notify roster (who is on duty for which zone).
DEMO_PASSWORD = "cctv-demo"


@dataclass(frozen=True)
class DemoPerson:
    account: str
    name: str
    role: str
    department: str
    zone: str | None = None
    shown: bool = True
    shift: tuple[time, time] = (time(0), time(0))  # equal ends: round the clock


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("duty", "陈静", "duty_operator", "logistics", shift=(time(8), time(20))),
    DemoPerson("guard", "张伟", "guard", "logistics", ZONES["teaching"]),
    DemoPerson("logistics_head", "刘洋", "dept_head", "logistics"),
    DemoPerson("leader", "王校长", "school_leader", "party_admin"),
    DemoPerson("nic_admin", "赵敏", "sysadmin", "nic"),
    DemoPerson("guard2", "李强", "guard", "logistics", ZONES["living"], shown=False),
    DemoPerson("gatekeeper", "孙丽", "gatekeeper", "logistics", ZONES["gate"], shown=False),
    DemoPerson("academic_head", "周磊", "dept_head", "academic", shown=False),
    DemoPerson("student_head", "吴芳", "dept_head", "student", shown=False),
    DemoPerson("nic_head", "郑涛", "dept_head", "nic", shown=False),
    DemoPerson(
        "duty2", "黄敏", "duty_operator", "logistics", shown=False, shift=(time(20), time(8))
    ),
    # the top of the duty chain: an alert nobody acknowledges climbs to them (Art. 13)
    DemoPerson("nic_duty", "孙杰", "nic_oncall", "nic", shown=False),
    DemoPerson("security_head", "钱主任", "security_head", "logistics", shown=False),
)
