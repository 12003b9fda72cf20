"""The demo people file `make run` hands the console: kept while it holds the demo's people,
written again when the demo has gained people since (a home from an older run)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cctv.devstack.demo_people import demo_people_file
from demo.campus import DEMO_PEOPLE


def accounts(path: Path) -> set[str]:
    return {row["account"] for row in yaml.safe_load(path.read_text(encoding="utf-8"))["people"]}


def test_a_file_from_an_older_run_gets_the_people_added_since(tmp_path: Path) -> None:
    path = tmp_path / "demo-people.yaml"
    old = [row for row in yaml.safe_load(demo_people_file(path).read_text())["people"]][:-1]
    path.write_text(yaml.safe_dump({"people": old}, allow_unicode=True), encoding="utf-8")
    assert accounts(path) != {p.account for p in DEMO_PEOPLE}
    demo_people_file(path)
    assert accounts(path) == {p.account for p in DEMO_PEOPLE}


def test_a_current_file_is_kept_as_it_is(tmp_path: Path) -> None:
    path = demo_people_file(tmp_path / "demo-people.yaml")
    before = path.read_bytes()
    assert demo_people_file(path).read_bytes() == before  # no new hash, no rewrite
