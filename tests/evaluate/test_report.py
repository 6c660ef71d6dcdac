import csv
import json
import re
import os
import shutil
import subprocess

import pytest
import yaml

from discover_core.evaluate import RunSettings, Store, load_ablation, open_dataset, run_cells
from discover_core.evaluate.report import write_report

import eval_helpers as h


def _sweep(registry, tmp_path, folder, name, grid, rate, anchor=None):
    data = {"name": name, "pipeline": h.pipeline_dict(), "grid": grid, "rate": rate}
    if anchor:
        data["anchor"] = anchor
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    abl = load_ablation(path, registry=registry)
    run = tmp_path / name
    store = Store(run)
    store.set_meta("ablation", {"name": abl.name, "rate": abl.rate, "anchor": abl.anchor, "axes": abl.axes})
    run_cells(abl.cells, open_dataset(f"folder:{folder}"), store, RunSettings(pictures_dir=run / "pictures",
                                                                          save_pictures=2))
    return run


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One sweep for the module's tests: two codecs, three region qualities (the rate axis)."""
    tmp = tmp_path_factory.mktemp("swept")
    grid = {"entropy_model.options.codec": ["jpeg", "webp"], "entropy_model.options.region_quality": [20, 50, 80]}
    return _sweep(h.registry(), tmp, h.image_folder(tmp / "images"), "codecs", grid,
                  "entropy_model.options.region_quality")


@pytest.fixture
def report(swept, tmp_path):
    return write_report([swept], tmp_path / "report", anchor="codec=jpeg")


def test_report_has_summary_tables_plots_pictures_and_a_page(report):
    out = report.parent
    results = json.loads((out / "results.json").read_text())
    labels = {(c["label"], c["stream"]) for c in results["curves"]}
    assert labels == {("codecs: codec=jpeg", "full"), ("codecs: codec=jpeg", "task:things"),
                      ("codecs: codec=webp", "full"), ("codecs: codec=webp", "task:things")}
    assert all(len(c["points"]) == 3 for c in results["curves"])
    assert results["anchor"] == "codecs: codec=jpeg" and results["interpolation"] == "akima"
    kinds = {(b["metric"], b["kind"]) for b in results["bd"]}
    assert ("psnr", "bd-rate") in kinds and ("psnr", "bd-psnr") in kinds
    assert ("things/mean-head/agreement", "bd-rate") in kinds
    assert all(b["curve"] == "codecs: codec=webp" and b["method"] == "akima" for b in results["bd"])
    # One summary per task: webp's full stream and task part against jpeg's; the agreement saturates (every cell
    # agrees), so instead of a BD-rate each row has the bpp at which it first reaches jpeg's best agreement.
    [summary] = results["summary"]
    assert summary["task"] == "things" and [(r["method"], r["stream"]) for r in summary["rows"]] == [
        ("codecs: codec=webp", "full"), ("codecs: codec=webp", "task:things")]
    curves = {(c["label"], c["stream"]): c["points"] for c in results["curves"]}
    assert all(p["things/mean-head/agreement"] == 1.0 for points in curves.values() for p in points)
    for row in summary["rows"]:
        ratio = row["rate_at_anchor_best"]["things/mean-head/agreement"]
        first = curves[("codecs: codec=webp", row["stream"])][0]["bpp"]
        assert ratio["reached"] and ratio["ratio"] == pytest.approx(
            first / curves[("codecs: codec=jpeg", row["anchor_stream"])][0]["bpp"])
    with open(out / "tables" / "summary-things.csv", newline="") as f:
        head, *rows = list(csv.reader(f))
    assert head[:3] == ["method", "stream", "BD-rate agreement (%)"] and "BD-PSNR (dB)" in head
    ratio_col = head.index("bpp ratio at anchor's best agreement")
    assert [r[ratio_col] for r in rows] == [
        f"{r['rate_at_anchor_best']['things/mean-head/agreement']['ratio']:.2f}" for r in summary["rows"]]
    assert all(re.fullmatch(r"—|[+-]\d+\.\d\*?", r[head.index("BD-rate PSNR (%)")]) for r in rows)
    tex = (out / "tables" / "summary-things.tex").read_text()
    assert tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
    for name in ("summary-things", "runs", "results", "bd-detail"):
        assert (out / "tables" / f"{name}.csv").is_file() and (out / "tables" / f"{name}.tex").is_file(), name
    for width in ("column", "page"):
        for fmt in ("png", "pdf", "svg"):
            assert (out / "plots" / f"rd-psnr-{width}.{fmt}").stat().st_size > 0, (width, fmt)
    assert len(list((out / "pictures").glob("*.png"))) == 2
    page = report.read_text()
    assert "Bjøntegaard figures against codecs: codec=jpeg" in page and "plots/rd-psnr-page.png" in page
    assert "href='tables/summary-things.csv'" in page and "href='tables/summary-things.tex'" in page
    lead = re.search(r'<p class="lead">(.*?)</p>', page, re.S).group(1)
    assert "codecs (run: 6 cells, each cell evaluated on 3 images of dataset folder:" in lead


def test_a_strip_has_every_cell_of_every_curve(swept):
    from discover_core.evaluate.curves import load_curves
    from discover_core.evaluate.report import _strip_rows, image_bpp

    curves, infos, _ = load_curves([swept])
    stem = sorted((swept / "pictures" / "original").glob("*.png"))[0].stem
    rows = _strip_rows(infos[0], curves, stem, image_bpp(infos[0]["store"]))
    assert [h for h, _ in rows] == ["", "codecs: codec=jpeg", "codecs: codec=jpeg [task:things]",
                                    "codecs: codec=webp", "codecs: codec=webp [task:things]"]
    assert [t for t, _ in rows[0][1]] == ["original", "grounded regions"]
    for _, panels in rows[1:]:
        assert [t.split("\n")[0] for t, _ in panels] == ["region_quality=20", "region_quality=50", "region_quality=80"]
        assert all(re.fullmatch(r"\d+\.\d{3} bpp", t.split("\n")[1]) for t, _ in panels)


def test_a_wrong_anchor_names_the_curves(swept, tmp_path):
    from discover_core.errors import InputError

    with pytest.raises(InputError, match="codecs: codec=webp"):
        write_report([swept], tmp_path / "r2", anchor="avif")


def _no_chromium() -> None:
    """Without Chromium the browser checks cannot run: a failure in CI (the set-up installs it), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail("no chromium on PATH; scripts/setup.sh installs it (apt-get install chromium)")
    pytest.skip("no chromium on PATH (apt-get install chromium)")


def test_page_loads_every_plot_picture_and_table_in_headless_chromium(report):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        _no_chromium()
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--virtual-time-budget=5000", "--dump-dom", report.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    m = re.search(r'id="load-status"[^>]*data-loaded="(\d+)"[^>]*data-total="(\d+)"[^>]*data-tables-ok="(\d+)"'
                  r'[^>]*data-tables="(\d+)"[^>]*data-links-ok="(\d+)"[^>]*data-links="(\d+)"', done.stdout)
    assert m, done.stdout[:500] + done.stderr[-500:]
    loaded, total, tables_ok, tables, links_ok, links = map(int, m.groups())
    plots = len(list((report.parent / "plots").glob("*-page.png")))
    assert total == plots + 2 and loaded == total
    # The summary, runs, dataset-level and detail tables: every row as wide as the header, the summary within the
    # window; each table's CSV and LaTeX files readable from the page.
    assert tables == 4 and tables_ok == tables and links == 2 * tables and links_ok == links


def test_a_broken_picture_is_seen_by_the_check(report):
    chromium = shutil.which("chromium")
    if chromium is None:
        _no_chromium()
    gone = next((report.parent / "plots").glob("*-page.png"))
    gone.unlink()
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--dump-dom", report.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-loaded="(\d+)"[^>]*data-total="(\d+)"', done.stdout)
    assert m and int(m.group(1)) == int(m.group(2)) - 1 and f"(missing: plots/{gone.name})" in done.stdout
