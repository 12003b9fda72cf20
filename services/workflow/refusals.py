"""Refusals and rule violations, each naming the article of the regulation it enforces.

A *refusal* (不予受理) means a request is not accepted at all; a *violation* means an action on
an accepted request is not allowed (approving one's own request, skipping a step...). Both
carry a stable code for programs and a bilingual message for people, Chinese first.
"""

from __future__ import annotations


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


# ---- the catalogue: one factory per rule so that wording stays consistent ----


def personal_capacity() -> Refusal:
    return Refusal(
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


def letter_required() -> Refusal:
    return Refusal(
        "letter_required",
        "校外单位须出具调阅请求公函（写明用途、人员、方式）",
        "an outside body must present an official letter stating purpose, persons and method",
        "Art. 16(2)1",
    )


def id_required() -> Refusal:
    return Refusal(
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


def case_number_required() -> Refusal:
    return Refusal(
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


def own_request() -> RuleViolation:
    return RuleViolation(
        "own_request",
        "不得审批本人提交的申请",
        "nobody may approve their own request",
        "Art. 16",
    )


def approved_twice() -> RuleViolation:
    return RuleViolation(
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


def reason_required() -> InvalidInput:
    return InvalidInput(
        "reason_required",
        "不同意须写明理由",
        "a rejection must state its reason",
        "Art. 16",
    )


def only_requester_withdraws() -> RuleViolation:
    return RuleViolation(
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
