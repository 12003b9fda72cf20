"""Inventory files that used to stop the service or corrupt data (issue 17): a YAML alias bomb
is refused before it expands, a GBK CSV is read as GBK (not mojibake) and undecodable bytes are
named by line, exported cells that a spreadsheet would run as formulas are neutralised, and
files over the documented limit are refused before they are parsed."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from cctv.plumbing.uploads import MAX_UPLOAD_BYTES, UploadRejected, decode_text
from services.ingest.inventory_io import (
    InventoryRejected,
    export_csv,
    parse_bytes,
    parse_csv,
    parse_yaml,
)

GOOD = (Path(__file__).parent / "fixtures" / "inventory_ok.csv").read_text(encoding="utf-8")

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
cameras: [*i]
"""


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    started = time.perf_counter()
    with pytest.raises(InventoryRejected) as exc:
        parse_yaml(BOMB)
    assert time.perf_counter() - started < 1.0  # refused at the first anchor, not expanded
    assert "anchors and aliases" in str(exc.value) and "第1行" in str(exc.value)


def test_gbk_csv_is_read_as_gbk_not_mojibake() -> None:
    cams = parse_bytes("cameras.csv", GOOD.encode("gbk"))
    assert cams == parse_csv(GOOD)
    assert cams[0].name == "综合楼东门"


def test_undecodable_bytes_are_named_by_line_not_a_traceback() -> None:
    data = GOOD.encode("utf-8").replace(b"\n", b"\n\xff\xfe\x00garbage", 1)
    with pytest.raises(InventoryRejected) as exc:
        parse_bytes("cameras.csv", data)
    assert "line 2" in str(exc.value) and "UTF-8" in str(exc.value)
    with pytest.raises(UploadRejected):
        decode_text(b"\x80\x81\x82", "x.csv")


def test_files_over_the_limit_are_refused_before_parsing() -> None:
    with pytest.raises(InventoryRejected) as exc:
        parse_bytes("cameras.csv", b"x" * (MAX_UPLOAD_BYTES + 1))
    assert "file too large" in str(exc.value)


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)"])
def test_exported_formula_cells_are_neutralised_and_round_trip(payload: str) -> None:
    cams = parse_csv(GOOD)
    evil = cams[0].model_copy(update={"name": payload})
    out = export_csv([evil, *cams[1:]])
    cells = [row["name"] for row in csv.DictReader(io.StringIO(out))]
    assert f"'{payload}" in cells and payload not in cells
    back = {c.camera_id: c for c in parse_csv(out)}
    assert back[evil.camera_id].name == payload  # import takes the apostrophe off


def test_cli_import_names_undecodable_bytes_instead_of_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cctv.cli.main import main

    bad = tmp_path / "cameras.csv"
    bad.write_bytes(GOOD.encode("utf-8") + b"\xff\xfe\x00\x81")
    assert main(["inventory", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 (or GBK) text" in err and "Traceback" not in err
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (MAX_UPLOAD_BYTES + 1))
    assert main(["inventory", "import", str(big)]) == 2
    assert "file too large" in capsys.readouterr().err
