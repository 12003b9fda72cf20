from __future__ import annotations

from collections import Counter

import pytest

from demo.campus import annex1_rows, generate


def test_every_annex1_system_becomes_cameras() -> None:
    cams = generate()
    assert len(annex1_rows()) == 9
    assert {c.system_id for c in cams} == {f"A1-{i:02d}" for i in range(1, 10)}
    assert 200 <= len(cams) <= 500
    assert len({c.camera_id for c in cams}) == len(cams)


def test_generation_is_deterministic() -> None:
    assert generate() == generate()


def test_managing_department_follows_article_16() -> None:
    by_cat = {(c.category, c.managing_department) for c in generate()}
    assert ("public_safety", "logistics") in by_cat
    assert ("teaching_exam", "academic") in by_cat
    assert ("dormitory", "student") in by_cat
    assert ("department", "research_equipment") in by_cat
    assert not any(cat == "public_safety" and dept != "logistics" for cat, dept in by_cat)


def test_sensitive_cameras_are_tagged() -> None:
    tags = Counter(t for c in generate() for t in c.sensitivity)
    assert tags["national_exam"] >= 60
    assert tags["exam_paper_vault"] == 4
    assert tags["key_point"] > 0 and tags["privacy"] > 0


def test_brands_and_protocols_follow_annex1() -> None:
    cams = {c.camera_id: c for c in generate()}
    assert cams["CONF-001"].brand == "dahua" and cams["CONF-001"].protocol == "dahua"
    assert cams["EXAM-001"].brand == "jingyeda"
    assert {cams[f"DORM-{i:03d}"].brand for i in range(1, 5)} == {"hikvision", "dahua"}


def test_the_demo_campus_grows_to_a_nics_size_with_unique_cameras_and_recorders() -> None:
    base = generate()
    grown = generate(cameras=5000)
    assert len(grown) == 5000
    assert len({c.camera_id for c in grown}) == 5000
    assert grown[: len(base)] == base  # the demo campus itself is unchanged
    copies = [c for c in grown if c.camera_id.endswith("-C2")]
    assert copies and all(c.nvr_id is None or c.nvr_id.endswith("-C2") for c in copies)
    assert len(generate(cameras=10)) == 10


def test_the_demo_size_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from demo.campus import demo_size

    monkeypatch.setenv("CCTV_DEMO_CAMERAS", "lots")
    with pytest.raises(ValueError, match="CCTV_DEMO_CAMERAS"):
        demo_size()
    monkeypatch.setenv("CCTV_DEMO_CAMERAS", "2000")
    assert demo_size() == 2000
    monkeypatch.delenv("CCTV_DEMO_CAMERAS")
    assert demo_size() is None
