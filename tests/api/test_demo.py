"""`discover demo` end to end on two real photos at one quality point (the full run is the README's main job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from discover_core.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "-o", str(out), "--photo", "coffee", "--photo", "stereo_motorcycle.png",
                 "--quality", "50"]) == 0
    return out


def test_demo_writes_everything(demo_dir):
    for name in ("index.html", "summary.md", "results.json", "rate-agreement.png"):
        assert (demo_dir / name).stat().st_size > 0, name
    with Image.open(demo_dir / "rate-agreement.png") as plot:
        assert plot.width > 500
    streams = sorted(p.name for p in (demo_dir / "streams").iterdir())
    assert streams == ["coffee-q50-classification.dscv", "coffee-q50.dscv",
                       "stereo_motorcycle-q50-classification.dscv", "stereo_motorcycle-q50.dscv"]
    page = (demo_dir / "index.html").read_text()
    for src in ("rate-agreement.png", "pictures/coffee-side-by-side.png", "pictures/stereo_motorcycle-side-by-side.png"):
        assert f"'{src}'" in page or f'"{src}"' in page
        assert (demo_dir / src).exists()
    assert not list(demo_dir.rglob("*.tmp")), "outputs are written atomically"


def test_demo_figures_are_consistent(demo_dir):
    results = json.loads((demo_dir / "results.json").read_text())
    rows = results["rows"]
    methods = {r["method"] for r in rows}
    assert {"task-only", "full", "avif (same bpp)", "jpeg (same bpp)", "avif (same PSNR in regions)"} <= methods
    for photo in ("coffee.png", "stereo_motorcycle.png"):
        by = {r["method"]: r for r in rows if r["photo"] == photo}
        stream = demo_dir / "streams" / f"{Path(photo).stem}-q50.dscv"
        assert by["full"]["bytes"] == stream.stat().st_size, "bpp comes from the actual bytes"
        assert by["task-only"]["bytes"] < by["full"]["bytes"]
        # The task's part and the full stream carry the same region chunks: the same pixels inside them.
        assert by["task-only"]["metrics"]["psnr_in"] == pytest.approx(by["full"]["metrics"]["psnr_in"])
        assert by["task-only"]["metrics"]["psnr_out"] < by["full"]["metrics"]["psnr_out"]
        # The matched AVIF is the whole-image still closest in size to the task-only stream.
        assert abs(by["avif (same bpp)"]["bytes"] - by["task-only"]["bytes"]) < 0.25 * by["task-only"]["bytes"]
        assert by["avif (same PSNR in regions)"]["metrics"]["psnr_in"] >= by["task-only"]["metrics"]["psnr_in"]
        assert set(by["task-only"]["agreement"]) == {"imagenet-classifier"}
        assert results["photos"][photo]["subject_found"] is True
    summary = (demo_dir / "summary.md").read_text()
    assert "| 50 | task-only |" in summary and "agreement[imagenet-classifier]" in summary


def test_demo_unknown_photo_is_a_user_error(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--photo", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no demo photo named nosuch" in err and "chelsea.png" in err and "Traceback" not in err


def test_demo_with_a_pipeline_without_heads(tmp_path):
    out = tmp_path / "oracle"
    assert main(["demo", "-o", str(out), "-c", str(ROOT / "examples/pipelines/oracle-boxes.yaml"),
                 "--photo", "chelsea", "--quality", "40"]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows and all(r["agreement"] == {} for r in rows)


def test_comparisons_rate_at_agreement_and_bd_rate():
    from discover_core.demo import comparisons

    def entry(method, bpp, agreement, psnr_in):
        return {"method": method, "bpp": bpp, "psnr_in": psnr_in, "agreement[h]": agreement}

    anchor = [entry("avif (same bpp)", b, a, p) for b, a, p in
              ((0.2, 0.5, 30.0), (0.4, 0.8, 33.0), (0.8, 1.0, 36.0), (1.6, 1.0, 39.0))]
    # Half the bits for the same PSNR inside the regions, agreement reached earlier.
    test = [entry("task-only", e["bpp"] / 2, a, e["psnr_in"]) for e, a in zip(anchor, (0.8, 1.0, 1.0, 1.0))]
    comp = comparisons(anchor + test)
    assert comp["bpp_at_agreement"]["avif (same bpp)"]["h"] == {"0.8": 0.4, "1.0": 0.8}
    assert comp["bpp_at_agreement"]["task-only"]["h"] == {"0.8": 0.1, "1.0": 0.2}
    assert comp["bd_rate_psnr_in"]["task-only"] == pytest.approx(-50.0, abs=0.5)
    assert comp["bd_rate_psnr_in"]["avif (same bpp)"] is None
    three = comparisons(anchor[:3] + test[:3])
    assert three["bd_rate_psnr_in"]["task-only"] is None, "BD-rate needs four points"


def test_bd_rate_is_withheld_when_curves_barely_overlap():
    from discover_core.demo import comparisons

    anchor = [{"method": "avif (same bpp)", "bpp": b, "psnr_in": p} for b, p in
              ((0.2, 30.0), (0.4, 33.0), (0.8, 36.0), (1.6, 39.0))]
    far = [{"method": "jpeg (same bpp)", "bpp": e["bpp"], "psnr_in": e["psnr_in"] - 8.0} for e in anchor]
    assert comparisons(anchor + far)["bd_rate_psnr_in"]["jpeg (same bpp)"] is None
