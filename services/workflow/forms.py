"""Printable forms laid out like the college's paper forms (Annex 2, 3, 4), in Chinese.

One layout description (a title and rows of cells with spans) feeds both the HTML page (with
print CSS: A4, black on white) and, when a CJK font is installed, a PDF made with fpdf2. The
product degrades to HTML when the font is missing: ``render_pdf`` returns None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cctv.contract.campustime import campus_day_zh, campus_time

from .access import AccessRequest
from .approval import Decision, Opinion
from .base import ApprovalRequest
from .inventory import Inventory
from .newpoint import NewPointRequest
from .org import BODY_NAMES, BodyKind, department_zh
from .routing import METHOD_ZH, Method
from .stopmove import ACTION_ZH, StopMoveRequest

COLLEGE = "海南软件职业技术学院"
TEMPLATES = Path(__file__).parent / "templates"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)
SIMPLIFIED_CHINESE_FACE = 2  # in NotoSansCJK-Regular.ttc face 0 is Japanese

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


@dataclass
class Cell:
    text: str = ""
    colspan: int = 1
    label: bool = False
    tall: bool = False  # an opinion box: room to sign


@dataclass
class FormDoc:
    annex: str  # 附件4
    title: str
    columns: int
    rows: list[list[Cell]]
    widths: list[int] = field(default_factory=list)  # relative column widths
    foot: list[str] = field(default_factory=list)
    ref: str = ""

    @property
    def filename(self) -> str:
        return f"{self.ref or 'form'}.pdf"


def _day(t: datetime | None) -> str:
    return "    年  月  日" if t is None else campus_day_zh(t)


def _minute(t: datetime) -> str:
    """The same text the console page and the CLI show: campus time, zone marked."""
    return campus_time(t)


def _opinions(req: ApprovalRequest, keys: list[str]) -> str:
    lines = []
    for o in req.flow.opinions:
        if o.step_key in keys:
            lines.append(_opinion_line(o))
    return "\n".join(lines)


def _opinion_line(o: Opinion) -> str:
    mark = "同意" if o.decision is Decision.APPROVE else "不同意"
    text = o.text if o.text and o.text != mark else ""
    who = o.approver.name or o.approver.person_id
    dept = f"{department_zh(o.department)} " if o.department else ""
    return f"{mark}{'：' + text if text else ''}    {dept}{who}（签字）  {_day(o.time)}"


def _same_as_above(req: ApprovalRequest, step_key: str) -> str:
    """同上 with the signature: the unit head also signed as the managing department's head."""
    lines = []
    for o in req.flow.opinions:
        if o.step_key == step_key:
            who = o.approver.name or o.approver.person_id
            dept = f"{department_zh(o.department)} " if o.department else ""
            lines.append(f"同上    {dept}{who}（签字）  {_day(o.time)}")
    return "\n".join(lines)


def annex4(req: AccessRequest, inventory: Inventory | None = None) -> FormDoc:
    """附件4 视频监控资料调阅审批单."""
    f = req.form
    check = {m: ("■" if f.method is m else "□") for m in Method}
    unit = department_zh(f.applying_unit)
    if f.body is not BodyKind.INTERNAL:
        unit = f"{f.applying_unit}（{BODY_NAMES[f.body][0]}）"
    cams = []
    for cid in f.cameras:
        cam = inventory.get(cid) if inventory and cid in inventory else None
        cams.append(f"{cid} {cam.name} {cam.building}{cam.position}" if cam else cid)
    reason = (
        f"{f.reason}\n调阅内容：{'；'.join(cams)}\n"
        f"视频时间段：{_minute(f.footage_from)} 至 {_minute(f.footage_until)}"
    )
    managing = [s.key for s in req.flow.steps if s.key.startswith("managing:")]
    unit_keys = [s.key for s in req.flow.steps if s.key == "unit"]
    # Art. 16(1)1: a unit head who also heads the cameras' managing department signs once; the
    # paper form still needs its 管理部门意见 box filled — "同上" with the same signature.
    also_managing = [s.key for s in req.flow.steps if s.key == "unit" and s.cameras]
    managing_text = "\n".join(
        x
        for x in [
            *(_same_as_above(req, k) for k in also_managing),
            _opinions(req, managing),
        ]
        if x
    )
    notes = [f"申请单号：{req.request_id}"]
    if f.letter_ref:
        notes.append(f"公函：{f.letter_ref}")
    if f.viewer_id_document:
        notes.append(f"身份证件：{_mask(f.viewer_id_document)}（已核验）" if f.id_checked else "")
    if f.case_number:
        notes.append(f"案件编号：{f.case_number}")
    if f.notes:
        notes.append(f.notes)
    for rec in req.retrievals:
        notes.append(
            f"调取记录：{rec.retrieved_by_name} {_minute(rec.retrieved_at)} 用途：{rec.purpose} "
            f"去向：{rec.destination}"
        )
    for h in req.holds:
        notes.append(f"网络信息中心保存至 {h.until.isoformat()}（{h.basis}）")
    rows = [
        [Cell("申请单位", label=True), Cell(unit), Cell("调阅人", label=True), Cell(f.viewer)],
        [
            Cell("申请时间", label=True),
            Cell(_day(req.applied_at)),
            Cell("调阅方式", label=True),
            Cell(
                f"{METHOD_ZH[Method.VIEW]} {check[Method.VIEW]}   "
                f"{METHOD_ZH[Method.COPY]} {check[Method.COPY]}"
            ),
        ],
        [Cell("调阅理由", label=True), Cell(reason, colspan=3, tall=True)],
        [Cell("单位意见", label=True), Cell(_opinions(req, unit_keys), colspan=3, tall=True)],
        [Cell("管理部门\n意见", label=True), Cell(managing_text, colspan=3, tall=True)],
        [Cell("院领导意见", label=True), Cell(_opinions(req, ["leader"]), colspan=3, tall=True)],
        [Cell("备注", label=True), Cell("\n".join(n for n in notes if n), colspan=3, tall=True)],
    ]
    return FormDoc(
        annex="附件4",
        title="视频监控资料调阅审批单",
        columns=4,
        widths=[18, 37, 18, 27],
        rows=rows,
        foot=[
            "注：校内公共安全视频监控管理由后勤处管理审批、校内课堂教学视频监控管理由教务处管理审批、"
            "学生宿舍区视频监控管理由学生处管理审批。"
        ],
        ref=req.request_id,
    )


def annex3(req: StopMoveRequest) -> FormDoc:
    """附件3 视频监控系统停用、挪移监控点位申请表."""
    f = req.form
    points = "\n".join(
        f"{i}. {p.camera_id} {ACTION_ZH[p.action]}"
        + (f" → {p.new_position}" if p.new_position else "")
        for i, p in enumerate(f.points, 1)
    )
    body = (
        f"原因：{f.reason}\n停用、挪移点共 {f.count} 个：\n{points}\n解决办法：{f.workaround}\n"
        f"施工时段：{_minute(f.window_from)} 至 {_minute(f.window_until)}"
    )
    using = [s.key for s in req.flow.steps if s.key.startswith("using:")]
    notes = [f"申请单号：{req.request_id}"]
    if req.window:
        notes.append(f"批准时段：{_minute(req.window.starts_at)} 至 {_minute(req.window.ends_at)}")
    if f.notes:
        notes.append(f.notes)
    rows = [
        [Cell("申请部门", label=True), Cell(department_zh(f.applying_unit))],
        [Cell("停用、挪移点统计\n及解决办法", label=True), Cell(body, tall=True)],
        [Cell("视频使用部门\n意见（签章）", label=True), Cell(_opinions(req, using), tall=True)],
        [Cell("网络信息中心\n意见", label=True), Cell(_opinions(req, ["nic"]), tall=True)],
        [Cell("备注", label=True), Cell("\n".join(notes), tall=True)],
    ]
    return FormDoc(
        annex="附件3",
        title="视频监控系统停用、挪移监控点位申请表",
        columns=2,
        widths=[25, 75],
        rows=rows,
        ref=req.request_id,
    )


ANNEX2_HEAD = [
    "序号",
    "布点位置（具体到道路名或者建筑名+方位）",
    "摄像头个数",
    "是否光纤连接",
    "线路长度，精确到米",
    "是否破水泥路",
    "破路长度，精确到米",
    "立杆个数",
    "备注",
]


def annex2(req: NewPointRequest) -> FormDoc:
    """附件2 视频监控系统工勘记录表: one row per point, at least the paper form's eight."""
    rows = [[Cell(h, label=True) for h in ANNEX2_HEAD]]
    survey = req.survey.rows if req.survey else []
    for i in range(max(8, len(survey))):
        if i < len(survey):
            s = survey[i]
            rows.append(
                [
                    Cell(str(i + 1)),
                    Cell(s.position),
                    Cell(str(s.camera_count)),
                    Cell("是" if s.fibre else "否"),
                    Cell(str(s.cable_m)),
                    Cell("是" if s.break_road else "否"),
                    Cell(str(s.break_m)),
                    Cell(str(s.poles)),
                    Cell(s.notes),
                ]
            )
        else:
            rows.append([Cell(str(i + 1))] + [Cell("") for _ in range(8)])
    stamp = "使用部门签章："
    if req.survey:
        stamp += (
            f"{department_zh(req.form.department)} {req.survey.stamped_by_name}"
            f"  {_day(req.survey.stamped_at)}"
        )
    return FormDoc(
        annex="附件2",
        title="视频监控系统工勘记录表",
        columns=9,
        widths=[6, 26, 9, 9, 11, 9, 11, 8, 11],
        rows=rows,
        foot=[stamp, f"申请单号：{req.request_id}"],
        ref=req.request_id,
    )


def _mask(doc: str) -> str:
    return doc if len(doc) <= 8 else f"{doc[:4]}{'*' * (len(doc) - 8)}{doc[-4:]}"


def render_html(doc: FormDoc) -> str:
    return _env.get_template("forms/form.html").render(doc=doc, college=COLLEGE)


def cjk_font(candidates: tuple[Path, ...] | list[Path] = FONT_CANDIDATES) -> Path | None:
    for p in candidates:
        if p.exists():
            return p
    return None


def render_pdf(
    doc: FormDoc, fonts: tuple[Path, ...] | list[Path] = FONT_CANDIDATES
) -> bytes | None:
    """The same form as PDF, or None when no CJK font is installed (HTML still works)."""
    font = cjk_font(fonts)
    if font is None:
        return None
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L" if doc.columns > 4 else "P", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.add_font("cjk", fname=str(font), collection_font_number=SIMPLIFIED_CHINESE_FACE)
    pdf.set_font("cjk", size=10)
    pdf.cell(0, 6, doc.annex, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 9, COLLEGE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 9, doc.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("cjk", size=10)
    label = FontFace(emphasis=None, fill_color=(240, 240, 240))
    with pdf.table(
        col_widths=tuple(doc.widths or [1] * doc.columns),
        text_align="LEFT",
        line_height=6,
        first_row_as_headings=False,
    ) as table:
        for cells in doc.rows:
            row = table.row()
            for c in cells:
                text = c.text + ("\n\n\n" if c.tall and c.text.count("\n") < 3 else "")
                row.cell(text, colspan=c.colspan, style=label if c.label else None)
    pdf.ln(2)
    for line in doc.foot:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
