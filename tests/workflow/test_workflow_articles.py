"""Every refusal names the article it comes from (issue #4: "Every refusal names the article").

Statically: each place in the workflow service that builds a refusal, rule violation or
invalid-input error passes an article ("Art. N" or "Annex N"), never a placeholder. At run
time: every factory in refusals.py gives a message that ends with its article.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from services.workflow import refusals

SOURCES = sorted((Path(__file__).parents[2] / "services" / "workflow").glob("*.py"))
ARTICLE = re.compile(r"^(Art\. \d+|Annex \d)")
# constructor -> index of the article among its positional arguments
BUILDERS = {
    "Refusal": 3,
    "RuleViolation": 3,
    "InvalidInput": 3,
    "CalendarUnknown": 3,
    "missing_field": 2,
    "unknown_camera": 1,
}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _sites() -> list[tuple[str, int, str, ast.expr | None]]:
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) in BUILDERS:
                i = BUILDERS[_name(node.func)]
                arg = node.args[i] if len(node.args) > i else None
                out.append((path.name, node.lineno, _name(node.func), arg))
    return out


def test_every_refusal_site_names_an_article() -> None:
    sites = _sites()
    # the scan sees the service's refusals at all: every kind of refusal is built somewhere
    # (a floor on kinds, not a count of sites, so folding two sites into one stays possible)
    assert {name for _, _, name, _ in sites} == set(BUILDERS), sorted({n for *_, n, _ in sites})
    bad = []
    for file, line, name, arg in sites:
        if name == "unknown_camera" and arg is None:
            continue  # defaults to Art. 16
        if isinstance(arg, ast.Constant):
            if not (isinstance(arg.value, str) and ARTICLE.match(arg.value)):
                bad.append(f"{file}:{line} {name}({arg.value!r})")
        elif arg is None:
            bad.append(f"{file}:{line} {name}: no article")
        # a variable or lookup (the form's article, the caller's article) is checked below
    assert bad == []


CJK = re.compile(r"[\u4e00-\u9fff]")
# Every refusal code workflow answers with. A new refusal is added here on purpose, and then
# checked like the others: both languages, and its article where the regulation is the reason.
CODES = [
    "already_revoked", "approved_twice", "bad_schedule", "beyond_grant", "calendar_nic_only",
    "calendar_on_file", "calendar_unknown", "camera_count", "case_number_required",
    "chain_changed", "copy_not_allowed", "copy_not_granted", "duplicate_camera",
    "empty_retrieval", "entry_closed", "entry_not_found", "exam_notice_too_late",
    "export_by_system", "external_not_entitled", "grant_expired", "grant_revoked",
    "handover_done", "handover_incomplete", "hold_not_found", "hold_shortened", "id_required",
    "identity_required", "implemented_by_nic", "invalid_form", "invalid_notice",
    "letter_required", "missing_field", "no_cjk_font", "no_exam_cameras", "no_paper_form",
    "not_acknowledged", "not_approved", "not_approver", "not_custodian", "not_found",
    "not_in_advance", "not_incoming", "not_operator", "not_party", "not_pending",
    "not_sysadmin", "not_system_owner", "not_your_step", "not_your_unit",
    "only_requester_withdraws", "out_of_order", "own_request", "personal_capacity",
    "plan_by_nic", "reason_required", "schedule_by_head", "self_handover", "step_decided",
    "survey_by_department", "survey_rows", "unknown_action", "unknown_camera",
    "unknown_process", "unknown_step", "urgent_single_point", "window_by_nic",
    "window_widened", "wrong_order",
]  # fmt: skip


def _sample(p: inspect.Parameter) -> object:
    """An argument of the declared kind, for building each refusal in the catalogue."""
    kind = str(p.annotation)
    if p.name == "article":
        return "Art. 16"
    if kind == "int":
        return 3
    return ["cam-1", "cam-2"] if kind.startswith("Sequence") else "x"


def _build(factory) -> refusals.WorkflowError:
    params = inspect.signature(factory).parameters.values()
    return factory(*[_sample(p) for p in params if p.default is inspect.Parameter.empty])


CATALOGUE = refusals.catalogue()


@pytest.mark.parametrize("factory", CATALOGUE.values(), ids=list(CATALOGUE))
def test_each_catalogued_refusal_ends_with_its_article(factory) -> None:
    err = _build(factory)
    if err.code in refusals.NOT_REGULATION:
        assert err.article == refusals.NO_ARTICLE
    else:
        assert ARTICLE.match(err.article), err.article
    assert err.message.endswith(f"({err.article})")
    assert err.zh and err.en and err.zh != err.en  # Chinese first, English beside it
    assert CJK.search(err.zh), err.zh
    assert re.search(r"[a-z]{3}", err.en), err.en


def test_the_refusal_codes_are_all_catalogued() -> None:
    """The list of codes a program may see; each code comes from a named constructor."""
    assert sorted({_build(f).code for f in CATALOGUE.values()}) == CODES
    assert refusals.NOT_REGULATION <= set(CODES)


def test_refusals_are_built_only_in_refusals_py() -> None:
    """Process modules and the service raise refusals by name; none writes one inline
    (so the wording of a rule has one home, and the catalogue above sees every one)."""
    classes = {"WorkflowError", "Refusal", "RuleViolation", "InvalidInput", "NotFound"}
    classes |= {"CalendarUnknown"}
    inline = [
        f"{path.name}:{node.lineno} {_name(node.func)}"
        for path in SOURCES
        if path.name != "refusals.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and _name(node.func) in classes
    ]
    assert inline == []


def test_error_replies_outside_the_catalogue_are_bilingual() -> None:
    from pydantic import BaseModel, ValidationError

    class Form(BaseModel):
        n: int

    try:
        Form.model_validate({"n": "many"})
    except ValidationError as exc:
        bad_form = refusals.form_invalid_reply(exc)
    for reply in (bad_form, refusals.bad_request_reply(KeyError("process"))):
        assert CJK.search(reply["text_zh"]) and reply["text_en"].isascii(), reply
    assert bad_form["code"] == "invalid_form" and "n" in bad_form["text_en"]


def test_form_articles_cover_every_process() -> None:
    from services.workflow.processes import APPROVALS

    assert set(APPROVALS) == {"access", "stopmove", "newpoint", "exam"}
    assert all(ARTICLE.match(p.article) for p in APPROVALS.values())
