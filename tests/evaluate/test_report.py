import json
import re
import os
import shutil
import subprocess

import pytest
import yaml

from discover_core.evaluate import Options, Store, load_ablation, open_dataset, run_cells
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
    run_cells(abl.cells, open_dataset(f"folder:{folder}"), store, Options(pictures_dir=run / "pictures",
                                                                          save_pictures=2))
    return run


@pytest.fixture
def report(registry, folder, tmp_path):
    grid = {"entropy_model.options.codec": ["jpeg", "webp"], "entropy_model.options.region_quality": [20, 50, 80]}
    run = _sweep(registry, tmp_path, folder, "codecs", grid, "entropy_model.options.region_quality")
    return write_report([run], tmp_path / "report", anchor="codec=jpeg")


def test_report_has_curves_bd_tables_pictures_and_a_page(report):
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
    assert (out / "plots" / "rd-psnr.png").is_file() and (out / "plots" / "rd-things_mean-head_agreement.png").is_file()
    assert len(list((out / "pictures").glob("*.png"))) == 2
    page = report.read_text()
    assert "Bjøntegaard deltas against codecs: codec=jpeg" in page and "rd-psnr.png" in page


def test_a_wrong_anchor_names_the_curves(registry, folder, tmp_path, report):
    from discover_core.errors import InputError

    with pytest.raises(InputError, match="codecs: codec=webp"):
        write_report([tmp_path / "codecs"], tmp_path / "r2", anchor="avif")


def _no_chromium() -> None:
    """Without Chromium the browser checks cannot run: a failure in CI (the set-up installs it), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail("no chromium on PATH; scripts/setup.sh installs it (apt-get install chromium)")
    pytest.skip("no chromium on PATH (apt-get install chromium)")


def test_page_loads_every_plot_and_picture_in_headless_chromium(report):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        _no_chromium()
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--virtual-time-budget=5000", "--dump-dom", report.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    m = re.search(r'id="load-status"[^>]*data-loaded="(\d+)"[^>]*data-total="(\d+)"', done.stdout)
    assert m, done.stdout[:500] + done.stderr[-500:]
    loaded, total = int(m.group(1)), int(m.group(2))
    plots = len(list((report.parent / "plots").glob("*.png")))
    assert total == plots + 2 and loaded == total


def test_a_broken_picture_is_seen_by_the_check(report):
    chromium = shutil.which("chromium")
    if chromium is None:
        _no_chromium()
    next((report.parent / "plots").glob("*.png")).unlink()
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--dump-dom", report.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-loaded="(\d+)"[^>]*data-total="(\d+)"', done.stdout)
    assert m and int(m.group(1)) == int(m.group(2)) - 1
