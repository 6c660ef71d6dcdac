"""The report's summary tables and their CSV / LaTeX / Markdown forms, on curves built in the test."""

import csv
import io
import re

from discover_core.evaluate.curves import Curve
from discover_core.evaluate.export import Table, latex_text, number
from discover_core.evaluate.summary import summary, summary_table

RATES = [0.1, 0.2, 0.4, 0.8]
PSNR = [28.0, 31.0, 33.5, 36.0]
TASK = "things/head/agreement"


def curve(label, rates, psnr, agreement, stream="full"):
    return Curve(label, "run", stream, points=[{"bpp": r, "psnr": p, TASK: a}
                                               for r, p, a in zip(rates, psnr, agreement)])


def test_number_has_fixed_precision_and_no_negative_zero():
    assert number(-0.004445, 1, sign=True) == "0.0" and number(113.8, 1, sign=True) == "+113.8"
    assert number(-12.345, 2, sign=True, mark="*") == "-12.35*" and number(None, 2) == "—"
    assert number(float("nan"), 2) == "—" and number(-1e-9, 2, sign=True) == "0.00"


def test_summary_rows_are_methods_with_fixed_precision_figures():
    anchor = curve("avif", RATES, PSNR, [0.5, 0.7, 0.8, 0.9])
    half = curve("ours", [r / 2 for r in RATES], PSNR, [0.5, 0.7, 0.8, 0.9])
    [s] = summary([anchor, half], "avif")
    t = summary_table(s, "summary-things")
    assert t.columns == ["method", "BD-rate agreement (%)", "BD-rate PSNR (%)", "BD-PSNR (dB)", "min. overlap (%)"]
    # Half the bits for the same agreement and PSNR: -50.0 %; BD-PSNR over the common log-rate range only.
    assert t.rows[0][:3] == ["ours", "-50.0", "-50.0"] and re.fullmatch(r"\+\d+\.\d\d\*", t.rows[0][3])
    assert t.rows[0][4] == "50", "log-rate ranges 0.05-0.4 and 0.1-0.8 share half their union"
    assert any(n.startswith("* the curves overlap less than 75%") for n in t.notes)


def test_a_saturated_task_metric_gets_the_rate_at_the_anchors_best():
    anchor = curve("avif", RATES, PSNR, [0.9, 1.0, 1.0, 1.0])
    early = curve("ours", RATES, PSNR, [1.0, 1.0, 1.0, 1.0])  # flat: one point after the monotonic fit
    never = curve("jpeg", RATES, PSNR, [0.5, 0.6, 0.7, 0.9])
    [s] = summary([anchor, early, never], "avif")
    t = summary_table(s, "x")
    col = t.columns.index("bpp ratio at anchor's best agreement")
    assert col == t.columns.index("BD-rate agreement (%)") + 1
    assert [r[col] for r in t.rows] == ["0.50", ">4.00"], "0.1 / 0.2; jpeg never reaches 100 % (0.8 / 0.2)"
    assert t.rows[0][col - 1] == "—"
    note = next(n for n in t.notes if n.startswith("bpp ratio"))
    assert "100.0 % first at 0.2000 bpp" in note and ">r: not reached" in note


def test_task_parts_are_rows_beside_full_streams():
    anchor = curve("avif", RATES, PSNR, [0.5, 0.7, 0.8, 0.9])
    full = curve("ours", RATES, PSNR, [0.5, 0.7, 0.8, 0.9])
    part = curve("ours", [r / 4 for r in RATES], PSNR, [0.5, 0.7, 0.8, 0.9], stream="task:things")
    [s] = summary([anchor, full, part], "avif")
    t = summary_table(s, "x")
    assert [r[:3] for r in t.rows] == [["ours", "full", "0.0"], ["ours", "task part", "-75.0"]]
    assert s["rows"][1]["anchor_stream"] == "full", "a whole-image anchor has no part: its full stream"


def test_csv_latex_and_markdown_hold_the_same_cells(tmp_path):
    t = Table("t", "A & B: 50% of x_1", ["method", "BD-rate (%)"], [["a_b & c", "-12.3*"], ["d", "—"]],
              ["* note"])
    assert list(csv.reader(io.StringIO(t.csv()))) == [["method", "BD-rate (%)"], ["a_b & c", "-12.3*"], ["d", "—"]]
    tex = t.latex()
    assert "\\begin{tabular}{lr}" in tex and tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
    assert "a\\_b \\& c & $-$12.3\\textsuperscript{*} \\\\" in tex and "d & -- \\\\" in tex
    assert "\\caption{A \\& B: 50\\% of x\\_1}" in tex
    assert t.markdown().splitlines()[:2] == ["| method | BD-rate (%) |", "|:---|---:|"]
    page = t.write(tmp_path)
    assert (tmp_path / "tables" / "t.csv").read_text(encoding="utf-8") == t.csv()
    assert (tmp_path / "tables" / "t.tex").read_text(encoding="utf-8") == tex
    assert "href='tables/t.csv'" in page and "<td class='n'>-12.3*</td>" in page


def test_latex_text_escapes():
    assert latex_text("+1.25") == "$+$1.25" and latex_text(">4.00") == "$>$4.00"
    assert latex_text("Bjøntegaard ~ #1") == "Bj{\\o}ntegaard \\textasciitilde{} \\#1"

