"""Issue 15: a managing department contradicting the camera's category is refused, row by row
(Art. 16(1)1 decides who manages each category; the inventory must not show another)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cctv.contract.events import CameraRecord
from services.ingest.inventory_io import InventoryRejected, parse_csv, parse_yaml

GOOD = (Path(__file__).parent / "fixtures" / "inventory_ok.csv").read_text(encoding="utf-8")


def test_csv_row_with_contradicting_managing_department_is_named() -> None:
    lines = GOOD.splitlines()
    assert ",academic,teaching_exam," in lines[2]
    lines[2] = lines[2].replace(",academic,teaching_exam,", ",student,teaching_exam,")
    with pytest.raises(InventoryRejected) as exc:
        parse_csv("\n".join(lines) + "\n")
    [err] = exc.value.errors
    assert (err.row, err.column) == (3, "managing_department")
    assert "教务处 academic" in err.reason and "Art. 16(1)1" in err.reason


def record(**kw: Any) -> dict[str, Any]:
    return {
        "camera_id": "c-1",
        "name": "n",
        "system_id": "A1-01",
        "department": "logistics",
        "managing_department": "logistics",
        "category": "public_safety",
        "building": "b",
        "position": "p",
        "zone": "z",
        "brand": "hikvision",
        "protocol": "isapi",
        "address": "127.0.0.1:80",
        **kw,
    }


def test_yaml_item_with_contradiction_is_named() -> None:
    text = (
        "cameras:\n"
        "  - {camera_id: a, name: n, system_id: A1-01, department: 后勤处, managing_department: "
        "后勤处, category: public_safety, building: b, position: p, zone: z, brand: 海康, "
        "protocol: isapi, address: '127.0.0.1:80'}\n"
        "  - {camera_id: b, name: n, system_id: A1-09, department: 科研设备处, "
        "managing_department: 后勤处, category: department, building: b, position: p, zone: z, "
        "brand: 海康, protocol: isapi, address: '127.0.0.1:80'}\n"
    )
    with pytest.raises(InventoryRejected) as exc:
        parse_yaml(text)
    assert [(e.row, e.column) for e in exc.value.errors] == [(2, "managing_department")]


@pytest.mark.parametrize(
    ("department", "managing", "category", "ok"),
    [
        ("logistics", "logistics", "public_safety", True),
        ("nic", "logistics", "public_safety", True),  # NIC's camera, public area: 后勤处
        ("nic", "nic", "public_safety", False),
        ("academic", "academic", "teaching_exam", True),
        ("academic", "logistics", "teaching_exam", False),
        ("student", "student", "dormitory", True),
        ("research_equipment", "research_equipment", "department", True),
        ("research_equipment", "logistics", "department", False),  # its own subsystem
        ("party_admin", "party_admin", "confidential", True),
        ("party_admin", "academic", "confidential", False),
    ],
)
def test_contract_record_keeps_category_and_manager_consistent(
    department: str, managing: str, category: str, ok: bool
) -> None:
    data = record(department=department, managing_department=managing, category=category)
    if ok:
        CameraRecord.model_validate(data)
        return
    with pytest.raises(ValidationError) as exc:
        CameraRecord.model_validate(data)
    assert exc.value.errors()[0]["ctx"]["column"] == "managing_department"
    assert "Art. 16(1)1" in str(exc.value)
