"""Camera inventory import and export, CSV and YAML.

The file holds the Annex 1 system columns (department, storage location, brand, monitoring
level) plus the per-camera fields. Import is all-or-nothing: every row is validated first and
any bad row refuses the whole file, naming row, column and reason; only a clean file becomes
an ImportPlan that the store applies in one transaction. Device passwords never appear in
these files (a password column is refused): they come from mounted secrets.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from cctv.contract.events import CameraRecord, CameraRemoved, CameraUpserted, Event
from cctv.contract.orgs import BY_CHINESE, CATEGORIES, SENSITIVITY

from .adapters.base import split_address

# the file's columns are the contract's fields, in its order; required = no default there
COLUMNS = tuple(CameraRecord.model_fields)
REQUIRED = tuple(n for n, f in CameraRecord.model_fields.items() if f.is_required())
ALIASES = {
    "编号": "camera_id",
    "摄像机编号": "camera_id",
    "名称": "name",
    "系统": "system_id",
    "系统编号": "system_id",
    "部门": "department",
    "所属部门": "department",
    "管理部门": "managing_department",
    "类别": "category",
    "敏感标签": "sensitivity",
    "楼宇": "building",
    "位置": "position",
    "区域": "zone",
    "品牌": "brand",
    "协议": "protocol",
    "设备地址": "address",
    "地址": "address",
    "录像机": "nvr_id",
    "通道": "channel",
    "存储位置": "storage_location",
    "监控级别": "monitoring_level",
}
SECRET_COLUMNS = re.compile(r"pass(word|wd)?|secret|credential|token|密码|口令", re.I)
BRANDS = {
    "海康": "hikvision",
    "海康威视": "hikvision",
    "大华": "dahua",
    "竞业达": "jingyeda",
    "竞业达标准化考场": "jingyeda",
}
LEVELS = {"学校": "school", "部门": "department", "": None}
CATEGORY_ZH = {zh: key for key, (zh, _en) in CATEGORIES.items()}
SENSITIVITY_ZH = {zh: key for key, (zh, _en) in SENSITIVITY.items()}
PROTOCOL_BRANDS = {"isapi": {"hikvision"}, "dahua": {"dahua"}}


@dataclass(frozen=True)
class RowError:
    row: int  # CSV: line number of the row (header is row 1); YAML: item number from 1
    column: str
    reason: str

    def __str__(self) -> str:
        return (
            f"第{self.row}行 列 {self.column}: {self.reason} / row {self.row}, column {self.column}"
        )


class InventoryRejected(ValueError):
    """The file was refused as a whole; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        head = "; ".join(str(e) for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"清单未导入 inventory not imported: {head}{more}")


def _split_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = re.split(r"[;,|、，；\s]+", str(value or ""))
    return [SENSITIVITY_ZH.get(t.strip(), t.strip()) for t in items if t.strip()]


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """Chinese labels and spreadsheet habits -> contract values."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        v = v.strip() if isinstance(v, str) else v
        if v == "" and k not in ("monitoring_level",):
            continue
        out[k] = v
    for k in ("department", "managing_department"):
        if isinstance(out.get(k), str):
            out[k] = BY_CHINESE.get(out[k], out[k])
    if isinstance(out.get("brand"), str):
        out["brand"] = BRANDS.get(out["brand"], out["brand"].lower())
    if isinstance(out.get("protocol"), str):
        out["protocol"] = out["protocol"].lower()
    if isinstance(out.get("category"), str):
        out["category"] = CATEGORY_ZH.get(out["category"], out["category"])
    if "monitoring_level" in out:
        lvl = out["monitoring_level"]
        out["monitoring_level"] = LEVELS.get(lvl, lvl) if isinstance(lvl, str) else lvl
    if "sensitivity" in out:
        out["sensitivity"] = _split_tags(out["sensitivity"])
    for k in ("system_id", "nvr_id"):
        if k in out and out[k] is not None:
            out[k] = str(out[k])
    return out


def _check_header(columns: Iterable[str]) -> tuple[dict[str, str], list[RowError]]:
    mapping: dict[str, str] = {}
    errors: list[RowError] = []
    for col in columns:
        name = (col or "").strip()
        key = ALIASES.get(name, name)
        if SECRET_COLUMNS.search(name):
            errors.append(
                RowError(
                    1,
                    name,
                    "设备口令不得写入清单，请放入 /run/secrets / device "
                    "credentials do not belong in the inventory; mount "
                    "them as secrets",
                )
            )
        elif key not in COLUMNS:
            errors.append(RowError(1, name, f"未知列 unknown column; known: {', '.join(COLUMNS)}"))
        elif key in mapping.values():
            errors.append(RowError(1, name, f"重复列 duplicate column for {key}"))
        else:
            mapping[name] = key
    missing = [c for c in REQUIRED if c not in mapping.values()]
    errors += [RowError(1, c, "缺少必填列 required column missing") for c in missing]
    return mapping, errors


def _validate_rows(rows: list[tuple[int, dict[str, Any]]]) -> list[CameraRecord]:
    """Validate every row, collect every error, raise once if any."""
    errors: list[RowError] = []
    cameras: list[CameraRecord] = []
    seen: dict[str, int] = {}
    for rowno, raw in rows:
        data = _normalise(raw)
        try:
            cam = CameraRecord.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                # a rule across columns (CameraRecord's validator) names its column in ctx
                where = e["loc"] or ((e.get("ctx") or {}).get("column", "-"),)
                col = str(where[0])
                value = data.get(col, "")
                errors.append(RowError(rowno, col, f"{e['msg']} (value {str(value)[:40]!r})"))
            continue
        row_errors = []
        try:
            split_address(cam.address, default_port=80)
            if not cam.address.rpartition(":")[0] and cam.address.startswith(":"):
                raise ValueError("empty host")
        except ValueError as exc:
            row_errors.append(RowError(rowno, "address", f"设备地址无效 invalid address: {exc}"))
        allowed = PROTOCOL_BRANDS.get(cam.protocol)
        if allowed and cam.brand not in allowed:
            row_errors.append(
                RowError(
                    rowno,
                    "protocol",
                    f"{cam.protocol} is spoken by "
                    f"{'/'.join(sorted(allowed))} devices, not {cam.brand}",
                )
            )
        if cam.channel is not None and not 1 <= cam.channel <= 256:
            row_errors.append(RowError(rowno, "channel", "通道号应为 1-256 / channel 1-256"))
        if cam.camera_id in seen:
            row_errors.append(
                RowError(rowno, "camera_id", f"编号重复 duplicate of row {seen[cam.camera_id]}")
            )
        else:
            seen[cam.camera_id] = rowno
        if row_errors:
            errors += row_errors
        else:
            cameras.append(cam)
    if errors:
        raise InventoryRejected(errors)
    return cameras


def parse_csv(text: str) -> list[CameraRecord]:
    """CSV (UTF-8, optional BOM, header row) -> cameras, or InventoryRejected."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise InventoryRejected([RowError(1, "-", "空文件或无表头 empty file or no header row")])
    mapping, errors = _check_header(reader.fieldnames)
    if errors:
        raise InventoryRejected(errors)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for raw in reader:
            if None in raw:  # more cells than header columns
                errors.append(
                    RowError(reader.line_num, "-", "多余的单元格 more cells than columns")
                )
                continue
            if not any((v or "").strip() for v in raw.values()):
                continue
            rows.append(
                (reader.line_num, {mapping[k or ""]: _uncell(v or "") for k, v in raw.items()})
            )
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "-", f"CSV 格式错误 malformed CSV: {exc}"))
    if errors:
        raise InventoryRejected(errors)
    return _validate_rows(rows)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases as it meets them, before any node is
    built: an alias bomb (a few hundred bytes expanding to gigabytes) never expands. An
    inventory has no use for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, "锚点/别名不允许 anchors and aliases (&, *) are not allowed",
                event.start_mark,
            )  # fmt: skip
        return super().compose_node(parent, index)


def parse_yaml(text: str) -> list[CameraRecord]:
    """YAML: a list of camera mappings, or {cameras: [...]}."""
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except RecursionError as exc:
        raise InventoryRejected([RowError(0, "-", "YAML 嵌套过深 nested too deep")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise InventoryRejected(
            [RowError(line, "-", f"YAML 格式错误 malformed YAML: {exc}")]
        ) from exc
    if isinstance(doc, dict):
        doc = doc.get("cameras")
    if not isinstance(doc, list):
        raise InventoryRejected([RowError(0, "-", "应为摄像机列表 expected a list of cameras")])
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    for i, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            errors.append(RowError(i, "-", "应为映射 expected a mapping of column: value"))
            continue
        mapping, head_errors = _check_header(str(k) for k in item)
        errors += [
            RowError(i, e.column, e.reason)
            for e in head_errors
            if e.reason.startswith(("设备口令", "未知列"))
        ]
        rows.append((i, {mapping[str(k)]: v for k, v in item.items() if str(k) in mapping}))
    if errors:
        raise InventoryRejected(errors)
    return _validate_rows(rows)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading
    apostrophe (OWASP CSV injection); import takes it off again."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _uncell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _row(cam: CameraRecord) -> dict[str, Any]:
    d = cam.model_dump(mode="json")
    d["sensitivity"] = ";".join(d["sensitivity"])
    return {k: _cell("" if d.get(k) is None else d[k]) for k in COLUMNS}


def export_csv(cameras: Iterable[CameraRecord]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for cam in sorted(cameras, key=lambda c: c.camera_id):
        w.writerow(_row(cam))
    return buf.getvalue()


def export_yaml(cameras: Iterable[CameraRecord]) -> str:
    items = [c.model_dump(mode="json") for c in sorted(cameras, key=lambda c: c.camera_id)]
    return yaml.safe_dump({"cameras": items}, allow_unicode=True, sort_keys=False)


@dataclass
class ImportPlan:
    """What applying a validated file changes; each change is one event."""

    upserts: list[CameraRecord] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)

    def events(self, reason: str = "inventory import") -> list[Event]:
        out: list[Event] = [CameraUpserted(camera=c) for c in self.upserts]
        out += [CameraRemoved(camera_id=c, reason=reason) for c in self.removals]
        return out


def plan_import(
    existing: Iterable[CameraRecord], incoming: list[CameraRecord], replace: bool = False
) -> ImportPlan:
    """Diff a validated file against the inventory; `replace` removes cameras not in the file."""
    current = {c.camera_id: c for c in existing}
    plan = ImportPlan()
    for cam in incoming:
        if current.get(cam.camera_id) == cam:
            plan.unchanged.append(cam.camera_id)
        else:
            plan.upserts.append(cam)
    if replace:
        wanted = {c.camera_id for c in incoming}
        plan.removals = sorted(c for c in current if c not in wanted)
    return plan


def parse_bytes(name: str, data: bytes) -> list[CameraRecord]:
    """A file as uploaded: size limit, then UTF-8 or GBK text (never mojibake), then parse."""
    from cctv.plumbing.uploads import UploadRejected, decode_text, too_large

    if refusal := too_large(len(data)):
        raise InventoryRejected([RowError(0, "-", refusal)])
    try:
        text, _encoding = decode_text(data, name)
    except UploadRejected as exc:
        raise InventoryRejected([RowError(0, "-", str(exc))]) from exc
    return parse_file(name, text)


def parse_file(name: str, text: str) -> list[CameraRecord]:
    if name.lower().endswith((".yaml", ".yml")):
        return parse_yaml(text)
    if name.lower().endswith(".csv"):
        return parse_csv(text)
    raise InventoryRejected(
        [
            RowError(
                0, "-", f"不支持的文件类型 unsupported file type: {name} (use .csv, .yaml or .yml)"
            )
        ]
    )
