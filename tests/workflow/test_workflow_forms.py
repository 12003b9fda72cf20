"""Printable forms (Annex 2, 3, 4): the paper layout's fields, in Chinese; PDF when a CJK font
is installed, HTML always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.workflow.access import AccessApplication, AccessRequest
from services.workflow.forms import annex2, annex3, annex4, cjk_font, render_html, render_pdf
from services.workflow.newpoint import NewPointApplication, NewPointRequest, SurveyRow
from services.workflow.stopmove import StopMoveApplication, StopMoveRequest
from tests.workflow.wf_campus import view_form
from tests.workflow.wf_pdf import pdf_text

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def police_request(inventory, people) -> AccessRequest:
    form = AccessApplication(
        body="police",
        applying_unit="海口市公安局龙华分局",
        viewer="王警官",
        viewer_id_document="460100199001011234",
        method="copy",
        reason="盗窃案取证",
        cameras=["ps-gate-1", "dorm-1"],
        footage_from=T - timedelta(days=1),
        footage_until=T,
        letter_ref="龙公函(2026)15号",
        id_checked=True,
        case_number="龙公刑(2026)088",
    )
    req, _ = AccessRequest.submit("DY-2026-00001", form, people["lg_staff"], inventory, T)
    # Art. 16(2)2: the head of 后勤处, then the school leader; 学生处 does not sign.
    req.approve(people["lg_head"], T, "同意调阅南门及宿舍区入口")
    req.approve(people["leader"], T, "同意")
    return req


def test_annex4_access_sheet(inventory, people) -> None:
    req = police_request(inventory, people)
    html = render_html(annex4(req, inventory))
    for text in [
        "附件4",
        "海南软件职业技术学院",
        "视频监控资料调阅审批单",
        "申请单位",
        "海口市公安局龙华分局（公安机关）",
        "调阅人",
        "王警官",
        "申请时间",
        "2026年3月2日",
        "调阅方式",
        "查阅 □",
        "拷贝 ■",
        "调阅理由",
        "盗窃案取证",
        "ps-gate-1",
        "单位意见",
        "管理部门",
        "院领导意见",
        "同意：同意调阅南门及宿舍区入口    后勤处 lg_head（签字）",
        "leader（签字）",
        "备注",
        "案件编号：龙公刑(2026)088",
        "4601**********1234",
        "注：校内公共安全视频监控管理由后勤处管理审批",
        # campus time with the zone marked, as on the console page (issue 15)
        "视频时间段：2026-03-01 10:00 (UTC+8) 至 2026-03-02 10:00 (UTC+8)",
    ]:
        assert text in html, text
    assert "460100199001011234" not in html  # the ID number is masked on paper


def stopmove_request(inventory, people) -> StopMoveRequest:
    form = StopMoveApplication(
        applying_unit="college_se",
        reason="外墙翻新",
        points=[{"camera_id": "te-class-101", "action": "move", "new_position": "101室 后墙"}],
        count=1,
        workaround="临时移至后墙",
        window_from=T + timedelta(days=2),
        window_until=T + timedelta(days=4),
    )
    req, _ = StopMoveRequest.submit("TY-2026-00001", form, people["se_staff"], inventory, T)
    req.approve(people["ac_head"], T, "同意")
    return req


def test_annex3_stop_move(inventory, people) -> None:
    html = render_html(annex3(stopmove_request(inventory, people)))
    for text in [
        "附件3",
        "视频监控系统停用、挪移监控点位申请表",
        "申请部门",
        "停用、挪移点统计",
        "解决办法",
        "临时移至后墙",
        "视频使用部门",
        "意见（签章）",
        "教务处 ac_head（签字）",
        "网络信息中心",
        "备注",
        "te-class-101 挪移 → 101室 后墙",
    ]:
        assert text in html, text


def surveyed_request(people) -> NewPointRequest:
    req, _ = NewPointRequest.submit(
        "XZ-2026-00001",
        NewPointApplication(department="logistics", need="n", urgent=True, positions=["北门"]),
        people["lg_staff"],
        T,
    )
    req.approve(people["leader"], T)
    req.make_plan(people["nic_staff"], T, "方案", 1)
    req.file_survey(
        people["lg_head"],
        T,
        [
            SurveyRow(
                position="北门停车场 朝南",
                camera_count=2,
                fibre=True,
                cable_m=120,
                break_road=True,
                break_m=15,
                poles=1,
                notes="夜间补光",
            )
        ],
    )
    return req


def test_annex2_site_survey(people) -> None:
    doc = annex2(surveyed_request(people))
    assert len(doc.rows) == 1 + 8  # header + the paper form's eight numbered rows
    assert [c.text for c in doc.rows[1]] == [
        "1",
        "北门停车场 朝南",
        "2",
        "是",
        "120",
        "是",
        "15",
        "1",
        "夜间补光",
    ]
    html = render_html(doc)
    for text in [
        "附件2",
        "视频监控系统工勘记录表",
        "布点位置（具体到道路名或者建筑名+方位）",
        "是否光纤连接",
        "线路长度，精确到米",
        "是否破水泥路",
        "破路长度，精确到米",
        "立杆个数",
        "使用部门签章：后勤处 lg_head",
    ]:
        assert text in html, text


def test_pdf_degrades_to_html_without_a_cjk_font(inventory, people, tmp_path: Path) -> None:
    """The PDF with the installed font is fetched in the console test; here, no font."""
    doc = annex4(police_request(inventory, people), inventory)
    assert render_pdf(doc, fonts=[tmp_path / "no-such-font.ttc"]) is None
    assert "视频监控资料调阅审批单" in render_html(doc)


@pytest.mark.skipif(
    cjk_font() is None, reason="no CJK font (fonts-noto-cjk): forms print as HTML only"
)
@pytest.mark.parametrize("annex", ["2", "3", "4"])
def test_pdf_of_each_paper_form(annex: str, inventory, people) -> None:
    if annex == "2":
        doc = annex2(surveyed_request(people))
        want = ["附件2", "视频监控系统工勘记录表", "立杆个数", "北门停车场 朝南", "夜间补光"]
    elif annex == "3":
        doc = annex3(stopmove_request(inventory, people))
        want = ["附件3", "视频监控系统停用、挪移监控点位申请表", "解决办法", "临时移至后墙"]
    else:
        doc = annex4(police_request(inventory, people), inventory)
        want = ["附件4", "视频监控资料调阅审批单", "院领导意见", "同意调阅南门及宿舍区入口"]
    pdf = render_pdf(doc)
    assert pdf is not None and pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for w in want:
        assert w in text, (w, text)


def _box(doc, label: str) -> str:
    """The text of the cell to the right of a label cell on the paper form."""
    for row in doc.rows:
        if row[0].text == label:
            return row[1].text
    raise AssertionError(f"no row {label!r}")


def test_annex4_unit_head_also_managing_fills_same_as_above(inventory, people) -> None:
    """Art. 16(1)1 / Annex 4: 后勤处 asks for its own public-safety footage; its head signs
    once, and the 管理部门意见 box reads 同上 with that signature (issue 15)."""
    form = view_form("logistics", ["ps-gate-1"], T, viewer="陈静", reason="核查夜间巡逻")
    req, _ = AccessRequest.submit("DY-2026-00002", form, people["lg_staff"], inventory, T)
    req.approve(people["lg_head"], T, "同意")
    doc = annex4(req, inventory)
    assert _box(doc, "单位意见") == "同意    后勤处 lg_head（签字）  2026年3月2日"
    assert _box(doc, "管理部门\n意见") == "同上    后勤处 lg_head（签字）  2026年3月2日"
    assert "同上    后勤处 lg_head（签字）" in render_html(doc)
    if cjk_font() is not None:  # the PDF prints the same box
        pdf = render_pdf(doc)
        assert pdf is not None and "同上" in pdf_text(pdf)


def test_annex4_other_managing_department_signs_its_own_box(inventory, people) -> None:
    form = view_form("college_se", ["dorm-1"], T, viewer="李老师", reason="核查")
    req, _ = AccessRequest.submit("DY-2026-00003", form, people["se_staff"], inventory, T)
    req.approve(people["se_head"], T, "同意")
    req.approve(people["st_head"], T, "同意")
    box = _box(annex4(req, inventory), "管理部门\n意见")
    assert box == "同意    学生处 st_head（签字）  2026年3月2日"
