"""Refusals and rule violations, each naming the article of the regulation it enforces.

A *refusal* (不予受理) means a request is not accepted at all; a *violation* means an action on
an accepted request is not allowed (approving one's own request, skipping a step...). Both
carry a stable code for programs and a bilingual message for people, Chinese first.

Every one is built here, by a named constructor (a ``Rule`` row where the wording is fixed),
so the wording of a rule lives in one place and a test can list them all (``catalogue``);
process modules and the service only raise them. A few errors are not the regulation's (a
request that does not exist, a server without a CJK font): their article is ``-``
(``NOT_REGULATION``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from cctv.contract.rpcmodels import error_reply


class WorkflowError(Exception):
    """Base: a message in Chinese and English and the article it comes from."""

    kind = "error"

    def __init__(self, code: str, zh: str, en: str, article: str, **detail: object) -> None:
        self.code = code
        self.zh = zh
        self.en = en
        self.article = article
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.zh} — {self.en} ({self.article})"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "code": self.code,
            "article": self.article,
            "message": self.message,
            "zh": self.zh,
            "en": self.en,
            "detail": {k: str(v) for k, v in self.detail.items()},
        }

    def reply(self) -> dict[str, Any]:
        """The one error shape of every service (cctv.contract.rpcmodels.ErrorReply); workflow's
        own fields (kind, zh, en, message, detail) stay beside it for older callers."""
        return {
            **self.to_dict(),
            **error_reply(self.code, self.zh, self.en, self.article),
            "error": self.message,
        }


class Refusal(WorkflowError):
    """The request is not accepted (不予受理)."""

    kind = "refusal"


class RuleViolation(WorkflowError):
    """An action that the regulation does not allow on this request."""

    kind = "violation"


class InvalidInput(WorkflowError):
    """The form is incomplete or inconsistent; names the field."""

    kind = "invalid"


class NotFound(WorkflowError):
    kind = "not_found"


class CalendarUnknown(InvalidInput):
    """The official arrangement for this year is not on file."""


NO_ARTICLE = "-"
# Codes whose reason is not the regulation (nothing to cite): everything else names its article.
NOT_REGULATION = frozenset({"not_found", "no_cjk_font"})


E = TypeVar("E", bound=WorkflowError)


@dataclass(frozen=True)
class Rule(Generic[E]):
    """A rule whose wording takes nothing from the request: one row (kind, code, Chinese,
    English, article) instead of a function each; called like the other constructors."""

    kind: type[E]
    code: str
    zh: str
    en: str
    article: str

    def __call__(self) -> E:
        return self.kind(self.code, self.zh, self.en, self.article)


# ---- the catalogue: one factory or row per rule so that wording stays consistent ----


personal_capacity = Rule(
    Refusal,
    "personal_capacity",
    "个人身份调阅不予受理",
    "personal-capacity access is not allowed",
    "Art. 16",
)


def external_not_entitled(body: str) -> Refusal:
    return Refusal(
        "external_not_entitled",
        "校外单位原则上不得调阅，仅公安机关、司法部门、学校主管厅局可依程序申请",
        "outside bodies may not request footage, except the police, the judiciary and the "
        "education authority",
        "Art. 16(2)",
        body=body,
    )


letter_required = Rule(
    Refusal,
    "letter_required",
    "校外单位须出具调阅请求公函（写明用途、人员、方式）",
    "an outside body must present an official letter stating purpose, persons and method",
    "Art. 16(2)1",
)

id_required = Rule(
    Refusal,
    "id_required",
    "调阅人员须持本人身份证件",
    "the person viewing must present their identity document",
    "Art. 16(2)2",
)


def copy_not_allowed(body: str) -> Refusal:
    return Refusal(
        "copy_not_allowed",
        "仅公安机关、司法部门因调查案件取证可拷贝视频资料",
        "only the police or the judiciary investigating a case may take copies",
        "Art. 16(2)3",
        body=body,
    )


case_number_required = Rule(
    Refusal,
    "case_number_required",
    "拷贝视频资料须注明案件编号",
    "a copy for a case needs the case number",
    "Art. 16(2)3",
)


def unknown_camera(camera_id: str, article: str = "Art. 16") -> InvalidInput:
    return InvalidInput(
        "unknown_camera",
        f"摄像机 {camera_id} 不在设备清单中",
        f"camera {camera_id} is not in the inventory",
        article,
        camera_id=camera_id,
    )


def missing_field(field: str, zh_label: str, article: str) -> InvalidInput:
    return InvalidInput(
        "missing_field",
        f"请填写「{zh_label}」",
        f"the field '{field}' is required",
        article,
        field=field,
    )


own_request = Rule(
    RuleViolation,
    "own_request",
    "不得审批本人提交的申请",
    "nobody may approve their own request",
    "Art. 16",
)

approved_twice = Rule(
    RuleViolation,
    "approved_twice",
    "同一人不得在同一申请中审批两次",
    "nobody may approve the same request twice",
    "Art. 16",
)


def not_your_step(step: str) -> RuleViolation:
    return RuleViolation(
        "not_your_step",
        f"您无权审批当前环节（{step}）",
        f"you do not hold the role the current step needs ({step})",
        "Art. 16",
        step=step,
    )


def out_of_order(step: str) -> RuleViolation:
    return RuleViolation(
        "out_of_order",
        f"审批环节不得跳过或颠倒：「{step}」尚未轮到",
        f"steps cannot be skipped or reordered: '{step}' is not due yet",
        "Art. 16",
        step=step,
    )


def not_pending(state: str) -> RuleViolation:
    return RuleViolation(
        "not_pending",
        f"申请当前状态为「{state}」，不能再审批或撤回",
        f"the request is {state}; it can no longer be decided or withdrawn",
        "Art. 16",
        state=state,
    )


reason_required = Rule(
    InvalidInput,
    "reason_required",
    "不同意须写明理由",
    "a rejection must state its reason",
    "Art. 16",
)

only_requester_withdraws = Rule(
    RuleViolation,
    "only_requester_withdraws",
    "只有申请人可以撤回申请",
    "only the requester may withdraw a request",
    "Art. 16",
)


def step_decided(step: str) -> RuleViolation:
    return RuleViolation(
        "step_decided",
        f"环节「{step}」已审批",
        f"step '{step}' has already been approved",
        "Art. 16",
        step=step,
    )


def unknown_step(key: str) -> InvalidInput:
    return InvalidInput(
        "unknown_step", f"审批环节「{key}」不存在", f"no step '{key}' in this chain", "Art. 16"
    )


duplicate_camera = Rule(
    InvalidInput, "duplicate_camera", "摄像机重复", "a camera is listed twice", "Art. 16"
)


# ---- the service: identity, processes, forms, requests that do not exist ----


identity_required = Rule(
    InvalidInput,
    "identity_required",
    "缺少已认证身份，请登录后操作",
    "this request acts for a person: it needs the signed identity of a console "
    "session or of `cctv login` (Cctv-Identity header); a name in the request "
    "is not enough",
    "Art. 15",
)


def unknown_process(process: str, known: Sequence[str]) -> InvalidInput:
    return InvalidInput(
        "unknown_process",
        f"未知流程「{process}」",
        f"unknown process '{process}' (one of {', '.join(known)})",
        "Art. 6-16",
    )


def invalid_form(where: str, msg: object, article: str) -> InvalidInput:
    """A form field that does not validate, named with the form's article."""
    return InvalidInput(
        "invalid_form",
        f"表单有误：{where}",
        f"invalid form: {where}: {msg}",
        article,
        field=where,
    )


def invalid_args(model: str, where: str, msg: object, article: str) -> InvalidInput:
    """An action's argument that does not validate, named with the action's article."""
    return InvalidInput(
        "invalid_form",
        f"表单有误：{where}",
        f"invalid {model}: {where}: {msg}",
        article,
        field=where,
    )


def first_error(exc: ValidationError, whole: str) -> tuple[str, object]:
    """Where the first error of a validation is (dotted path, or ``whole``) and its message."""
    err = exc.errors()[0]
    return ".".join(str(p) for p in err.get("loc", ())) or whole, err.get("msg")


def chain_changed(article: str) -> InvalidInput:
    return InvalidInput(
        "chain_changed",
        "审批流程已随设备清单变化，请重新查看审批流程后再提交",
        "the approval chain changed with the inventory since it was shown; "
        "look at it again before submitting",
        article,
    )


def unknown_action(process: str, action: str, article: str) -> InvalidInput:
    return InvalidInput(
        "unknown_action",
        f"「{process}」没有操作「{action}」",
        f"process {process} has no action '{action}'",
        article,
    )


def request_not_found(request_id: str) -> NotFound:
    return NotFound(
        "not_found", f"申请 {request_id} 不存在", f"no request {request_id}", NO_ARTICLE
    )


def no_paper_form(process: str, process_zh: str) -> NotFound:
    return NotFound(
        "no_paper_form",
        f"{process_zh}没有纸质表单",
        f"no paper form for {process} (only Annex 2, 3 and 4 have one)",
        "Annex 2-4",
    )


no_cjk_font = Rule(
    NotFound,
    "no_cjk_font",
    "服务器未安装中文字体，请打印HTML版",
    "no CJK font installed (apt-get install fonts-noto-cjk); print the HTML instead",
    NO_ARTICLE,
)


def form_invalid_reply(exc: ValidationError) -> dict[str, Any]:
    """A form the shell let through that a domain model refused: the one error shape."""
    where, msg = first_error(exc, "form")
    return error_reply("invalid_form", "表单有误", f"invalid form: {where}: {msg}", kind="invalid")


def bad_request_reply(exc: Exception) -> dict[str, Any]:
    return error_reply("bad_request", "请求有误", f"bad request: {exc}", kind="invalid")


# ---- footage access (Art. 15-18) ----


def access_not_your_unit(applying_unit: str) -> InvalidInput:
    return InvalidInput(
        "not_your_unit",
        "只能以本部门名义申请调阅",
        "you may apply only on behalf of your own department",
        "Art. 16(1)1",
        applying_unit=applying_unit,
    )


not_approved = Rule(
    RuleViolation,
    "not_approved",
    "申请未经批准，不得调取",
    "footage may be retrieved only for an approved request",
    "Art. 15",
)

nothing_to_revoke = Rule(
    RuleViolation, "not_approved", "没有可撤销的授权", "there is no grant to revoke", "Art. 16"
)

not_sysadmin = Rule(
    RuleViolation,
    "not_sysadmin",
    "视频调阅须由系统管理人员进行",
    "retrieval is done by a system administrator",
    "Art. 16(1)3",
)

grant_revoked = Rule(
    RuleViolation, "grant_revoked", "调阅授权已撤销", "the grant has been revoked", "Art. 16"
)


def grant_expired(valid_until: str) -> RuleViolation:
    return RuleViolation(
        "grant_expired",
        "调阅授权已过期，请重新申请",
        "the grant has expired; apply again",
        "Art. 16",
        valid_until=valid_until,
    )


beyond_grant = Rule(
    RuleViolation,
    "beyond_grant",
    "须严格按照审批内容调取，不得超出批准的摄像机或时间段",
    "retrieve exactly what was approved: no other camera, no wider time range",
    "Art. 16(1)3",
)

empty_retrieval = Rule(
    InvalidInput, "empty_retrieval", "调取内容为空", "nothing to retrieve", "Art. 16(1)3"
)

export_by_system = Rule(
    RuleViolation,
    "export_by_system",
    "拷贝由系统执行并自动登记（系统导出），不再手工登记校验值",
    "a copy grant is carried out by the system (media export), which records the "
    "retrieval and the SHA-256 itself; a typed-in hash is not accepted",
    "Art. 17",
)


copy_not_granted = Rule(
    RuleViolation,
    "copy_not_granted",
    "未经许可严禁复制、拷贝",
    "this grant allows viewing only: no copy or export",
    "Art. 17",
)

already_revoked = Rule(
    RuleViolation, "already_revoked", "授权已撤销", "the grant is already revoked", "Art. 16"
)

not_approver = Rule(
    RuleViolation,
    "not_approver",
    "只有审批人或分管校领导可以撤销授权",
    "only someone who approved it, or the school leader, may revoke a grant",
    "Art. 16",
)

not_custodian = Rule(
    RuleViolation,
    "not_custodian",
    "保存期限由网络信息中心系统管理人员登记",
    "preservation is recorded by NIC's system administrators",
    "Art. 18",
)


def hold_shortened(until: str) -> RuleViolation:
    return RuleViolation(
        "hold_shortened",
        "保存期间严禁删除，保存期限不得缩短",
        "a preservation hold can be extended, never shortened",
        "Art. 18",
        until=until,
    )


def hold_not_found(hold_id: str) -> NotFound:
    return NotFound("hold_not_found", f"保存记录 {hold_id} 不存在", f"no hold {hold_id}", "Art. 18")


# ---- stopping or moving cameras (Art. 8) ----


stopmove_not_your_unit = Rule(
    InvalidInput,
    "not_your_unit",
    "只能以本部门名义申请",
    "you may apply only on behalf of your own department",
    "Art. 8",
)

not_in_advance = Rule(
    Refusal,
    "not_in_advance",
    "停用、挪移须提前报告，经批准后方可施工",
    "stopping or moving cameras must be requested before the work starts",
    "Art. 8",
)

window_by_nic = Rule(
    RuleViolation,
    "window_by_nic",
    "只有网络信息中心可调整批准的施工时段",
    "only NIC may set the approved window",
    "Art. 8",
)

window_widened = Rule(
    RuleViolation,
    "window_widened",
    "批准的时段只能在申请时段之内",
    "the approved window must lie within the requested one",
    "Art. 8",
)

not_party = Rule(
    RuleViolation,
    "not_party",
    "只有申请部门或网络信息中心可报告施工完成",
    "only the applying department or NIC may report the work done",
    "Art. 8",
)


# ---- new camera points (Art. 6, Annex 2) ----


newpoint_not_your_unit = Rule(
    InvalidInput,
    "not_your_unit",
    "新增摄像点由使用部门提出",
    "a new point is proposed by the department that will use it",
    "Art. 6",
)

urgent_single_point = Rule(
    Refusal,
    "urgent_single_point",
    "紧急程序仅适用于新增个别摄像点，多个点位请按常规程序申请",
    "the urgent path is for a single point; propose several points the usual way",
    "Art. 6",
)


def wrong_order(state: str, what_zh: str, what_en: str) -> RuleViolation:
    return RuleViolation(
        "wrong_order",
        f"当前状态为「{state}」，不能{what_zh}",
        f"cannot {what_en} while the request is {state}",
        "Art. 6",
    )


plan_by_nic = Rule(
    RuleViolation,
    "plan_by_nic",
    "安装方案由网络信息中心会同使用单位制定",
    "NIC draws up the installation plan with the using department",
    "Art. 6",
)

survey_by_department = Rule(
    RuleViolation,
    "survey_by_department",
    "工勘记录由使用单位填写并签章",
    "the using department fills in and stamps the site survey",
    "Art. 6, Annex 2",
)


def survey_rows(planned: int, listed: int) -> InvalidInput:
    return InvalidInput(
        "survey_rows",
        f"工勘记录应有{planned}个布点，实际{listed}个",
        f"the plan has {planned} points; the survey lists {listed}",
        "Annex 2",
    )


implemented_by_nic = Rule(
    RuleViolation,
    "implemented_by_nic",
    "由网络信息中心组织实施",
    "NIC carries out the installation",
    "Art. 6",
)


def camera_count(expected: int, registered: int) -> InvalidInput:
    return InvalidInput(
        "camera_count",
        f"工勘记录共{expected}个摄像头，实施登记{registered}个",
        f"the survey counts {expected} cameras; {registered} were registered",
        "Annex 2",
    )


# ---- exam monitoring support and the official calendar (Art. 10) ----

_UNKNOWN_ZH = "（次年节假日安排尚未收录）"
_UNKNOWN_EN = "(next year's arrangement not on file)"


def exam_notice_too_late(
    have: int, unknown: int, earliest: str | None, latest: str | None
) -> Refusal:
    """Too late whatever the days not on file are: how many working days at most, and the
    admissible dates where the calendar knows them."""
    most = have + unknown
    count_zh = f"至多{most}个" if unknown else f"仅{have}个"
    count_en = f"at most {most}" if unknown else f"only {have}"
    return Refusal(
        "exam_notice_too_late",
        f"须提前7个工作日书面报告教务处：距考试{count_zh}工作日；"
        f"今日提交，最早可安排在{earliest or _UNKNOWN_ZH}；"
        f"本场考试最迟应于{latest or _UNKNOWN_ZH}提交",
        f"must reach Academic Affairs 7 working days ahead: {count_en} working days left; "
        f"submitted today, the earliest admissible exam date is {earliest or _UNKNOWN_EN}; "
        f"for this exam the latest submission date was {latest or _UNKNOWN_EN}",
        "Art. 10",
        working_days=most,
        earliest_exam_date=earliest or "",
        latest_submission_date=latest or "",
    )


def no_exam_cameras(building: str, rooms: Sequence[str]) -> InvalidInput:
    return InvalidInput(
        "no_exam_cameras",
        f"{building} {'、'.join(rooms)} 没有登记的摄像机",
        f"no camera in the inventory covers {building} {', '.join(rooms)}",
        "Art. 10",
    )


def calendar_unknown(year: int) -> CalendarUnknown:
    return CalendarUnknown(
        "calendar_unknown",
        f"{year}年国务院节假日安排尚未收录，无法计算工作日；请网络信息中心录入国务院通知"
        "（cctv requests calendar import）",
        f"the official holiday arrangement for {year} is not on file; NIC enters the State "
        "Council notice with `cctv requests calendar import FILE` (or upgrade chinese-calendar)",
        "Art. 10",
        year=year,
    )


def invalid_notice(where: str, msg: object) -> InvalidInput:
    return InvalidInput(
        "invalid_notice",
        f"节假日通知有误：{where}",
        f"invalid holiday notice: {where}: {msg}",
        "Art. 10",
        field=where,
    )


calendar_nic_only = Rule(
    RuleViolation,
    "calendar_nic_only",
    "节假日安排由网络信息中心系统管理人员录入",
    "only NIC's system administrators (or its head) enter the holiday notice",
    "Art. 10",
)


def calendar_on_file(year: int, package_years: str) -> InvalidInput:
    return InvalidInput(
        "calendar_on_file",
        f"{year}年节假日安排已由 chinese-calendar 收录，无需录入",
        f"chinese-calendar already carries {year} (years {package_years})",
        "Art. 10",
        field="year",
    )


# ---- responsible persons and arming schedules (Art. 9) ----


not_system_owner = Rule(
    RuleViolation,
    "not_system_owner",
    "只有系统所属部门（或后勤处、网络信息中心）可变更备案信息",
    "only the owning department (or 后勤处 / NIC) may change what is on file",
    "Art. 9",
)

schedule_by_head = Rule(
    RuleViolation,
    "schedule_by_head",
    "布防计划由部门负责人或系统管理人员设定",
    "the arming schedule is set by a head of department or a system administrator",
    "Art. 9",
)


def bad_schedule(why: object) -> InvalidInput:
    return InvalidInput("bad_schedule", "布防计划有误", f"bad schedule: {why}", "Art. 9")


# ---- duty logbook and handover (Art. 13-14) ----


not_operator = Rule(
    RuleViolation,
    "not_operator",
    "只有监控值班人员可以记录值班日志",
    "only duty operators keep the logbook",
    "Art. 14",
)

entry_closed = Rule(
    RuleViolation, "entry_closed", "该记录已处理完毕", "this entry is already closed", "Art. 14"
)


def entry_not_found(entry_id: str) -> NotFound:
    return NotFound("entry_not_found", f"日志 {entry_id} 不存在", f"no entry {entry_id}", "Art. 14")


self_handover = Rule(
    RuleViolation,
    "self_handover",
    "不能交班给自己",
    "a shift cannot be handed over to the same operator",
    "Art. 14(3)",
)

handover_done = Rule(
    RuleViolation,
    "handover_done",
    "该交接已完成或已被替代",
    "this handover is already confirmed or superseded",
    "Art. 14(3)",
)

not_incoming = Rule(
    RuleViolation,
    "not_incoming",
    "只有接班人员可以确认交接",
    "only the incoming operator confirms the handover",
    "Art. 14(3)",
)


def handover_incomplete(new: Sequence[str]) -> RuleViolation:
    return RuleViolation(
        "handover_incomplete",
        f"交接后又有未结事项：{'、'.join(new)}，请重新交接",
        f"items opened since the offer must be handed over too: {', '.join(new)}",
        "Art. 14(3)",
        missing=",".join(new),
    )


def not_acknowledged(missing: Sequence[str]) -> RuleViolation:
    return RuleViolation(
        "not_acknowledged",
        f"交接须逐项确认，尚未确认：{'、'.join(missing)}",
        f"every carried item must be confirmed; not yet: {', '.join(missing)}",
        "Art. 14(3)",
        missing=",".join(missing),
    )


def handover_not_found(handover_id: str) -> NotFound:
    return NotFound(
        "not_found", f"交接 {handover_id} 不存在", f"no handover {handover_id}", NO_ARTICLE
    )


def catalogue() -> dict[str, Callable[..., WorkflowError]]:
    """Every named constructor and row of this module, by name: what a test walks to list the
    codes."""
    errors = {c.__name__ for c in (WorkflowError, Refusal, RuleViolation, InvalidInput, NotFound)}
    return {
        name: fn
        for name, fn in sorted(globals().items())
        if isinstance(fn, Rule)
        or (
            inspect.isfunction(fn)
            and fn.__module__ == __name__
            and inspect.signature(fn).return_annotation in errors | {"CalendarUnknown"}
        )
    }
