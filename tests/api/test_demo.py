"""`discover demo` end to end on one real photo at one quality point (the full run is the README's main job)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from discover_core.cli import main
from discover_core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "-o", str(out), "--photo", "coffee", "--quality", "50"]) == 0
    return out


def test_demo_writes_everything(demo_dir):
    for name in ("index.html", "summary.md", "results.json", "rate-agreement.png", "detection/rate-agreement.png"):
        assert (demo_dir / name).stat().st_size > 0, name
    for name in ("rate-agreement.png", "detection/rate-agreement.png"):
        with Image.open(demo_dir / name) as plot:
            assert plot.width > 500
    assert sorted(p.name for p in (demo_dir / "streams").iterdir()) == ["coffee-q50-classification.dscv",
                                                                       "coffee-q50.dscv"]
    assert sorted(p.name for p in (demo_dir / "detection/streams").iterdir()) == ["coffee-q50-detection.dscv",
                                                                                 "coffee-q50.dscv"]
    # The third task of the paper: person segmentation, its pipeline run in a worker process beside the others.
    assert sorted(p.name for p in (demo_dir / "segmentation/streams").iterdir()) == [
        "coffee-q50-segmentation.dscv", "coffee-q50.dscv"]
    assert (demo_dir / "segmentation/rate-agreement.png").stat().st_size > 0
    page = (demo_dir / "index.html").read_text()
    for src in ("rate-agreement.png", "pictures/coffee-side-by-side.png", "detection/rate-agreement.png",
                "detection/pictures/coffee-side-by-side.png"):
        assert f"'{src}'" in page or f'"{src}"' in page
        assert (demo_dir / src).exists()
    assert not list(demo_dir.rglob("*.tmp")), "outputs are written atomically"
    # The quality points are an evaluate run per pipeline (its results store), shown by `discover report` too.
    assert "'report/index.html'" in page or '"report/index.html"' in page
    # The BD figures against AVIF are the report's summary table: on the page, in summary.md, as CSV and LaTeX.
    for folder, task in (("", "classification"), ("detection/", "detection")):
        assert f"href='{folder}tables/bd-{task}.csv'" in page and f"href='{folder}tables/bd-{task}.tex'" in page
        header = (demo_dir / f"{folder}tables/bd-{task}.csv").read_text().splitlines()[0]
        assert header.startswith("method,stream,BD-rate agreement") and "\\toprule" in (
            demo_dir / f"{folder}tables/bd-{task}.tex").read_text()
    assert "## Task classification: Bjøntegaard figures against avif (same bpp)" in (
        demo_dir / "summary.md").read_text()
    report = (demo_dir / "report" / "index.html").read_text()
    assert "classification" in report and "detection" in report and "segmentation" in report
    for src in re.findall(r"src='(plots/[^']+)'", report):
        assert (demo_dir / "report" / src).stat().st_size > 0, src
    assert {p.suffix for p in (demo_dir / "report" / "plots").iterdir()} == {".png"}  # PDF/SVG: discover report
    # The three pipelines ran at once (one process each): their times are wall-clock on shared cores, and say so.
    assert "wall-clock with 3 pipelines sharing the cores" in page
    from discover_core.evaluate import Store

    for folder in ("", "detection"):
        store = Store.open_existing(demo_dir / folder / "evaluate")
        rows = {r["stream"]: r for r in store.rows()}
        store.close()
        task = "detection" if folder else "classification"
        assert set(rows) == {"full", f"task:{task}"}, "one cell (q50), one photo: the full stream and the task's part"
        assert rows["full"]["bytes"] == (demo_dir / folder / "streams" / "coffee-q50.dscv").stat().st_size
        assert rows[f"task:{task}"]["bytes"] == (demo_dir / folder / "streams" /
                                                 f"coffee-q50-{task}.dscv").stat().st_size


def _by_method(run: dict, photo: str) -> dict:
    return {r["method"]: r for r in run["rows"] if r["photo"] == photo}


def test_demo_figures_are_consistent(demo_dir):
    results = json.loads((demo_dir / "results.json").read_text())
    assert list(results["runs"]) == ["classification", "detection", "segmentation"]
    for name, folder in (("classification", ""), ("detection", "detection")):
        run = results["runs"][name]
        assert {"task-only", "full", "avif (same bpp)", "jpeg (same bpp)",
                "avif (same PSNR in regions)"} <= {r["method"] for r in run["rows"]}
        by = _by_method(run, "coffee.png")
        stream = demo_dir / folder / "streams" / "coffee-q50.dscv"
        assert by["full"]["bytes"] == stream.stat().st_size, "bpp comes from the actual bytes"
        assert by["task-only"]["bytes"] < by["full"]["bytes"]
        # The task's part and the full stream carry the same region chunks: the same pixels inside them, but
        # for the feathered edge band (no margin: it lies inside the boxes), blended with what is beneath it
        # (the 'rest' chunk in the full stream, the background in the part).
        assert by["task-only"]["metrics"]["psnr_in"] == pytest.approx(by["full"]["metrics"]["psnr_in"], rel=1e-3)
        assert by["task-only"]["metrics"]["psnr_out"] < by["full"]["metrics"]["psnr_out"]
        # The matched AVIF is the whole-image still closest in size to the task-only stream.
        assert abs(by["avif (same bpp)"]["bytes"] - by["task-only"]["bytes"]) < 0.25 * by["task-only"]["bytes"]
        assert by["avif (same PSNR in regions)"]["metrics"]["psnr_in"] >= by["task-only"]["metrics"]["psnr_in"]
        assert run["photos"]["coffee.png"]["subject_found"] is True, f"{name}: the cup is grounded"
    classification = results["runs"]["classification"]
    assert set(_by_method(classification, "coffee.png")["task-only"]["agreement"]) == {"imagenet-classifier"}
    assert classification["scored_over_set"] == []
    summary = (demo_dir / "summary.md").read_text()
    assert "| 50 | task-only |" in summary and "agreement[imagenet-classifier]" in summary


def test_demo_detection_is_scored_over_the_set(demo_dir):
    run = json.loads((demo_dir / "results.json").read_text())["runs"]["detection"]
    assert run["scored_over_set"] == ["coco-detector"]
    # Suppression within a category: the dining table under the cup is a task region too.
    assert {r["label"] for r in run["photos"]["coffee.png"]["regions"]} >= {"cup", "dining table"}
    # The detector on the originals agrees with itself; against the annotations it is a real AP.
    original = run["original"]["coco-detector"]
    assert original["photos"] == 1 and original["agreement"] == 1.0 and 0.0 < original["ap"] <= 1.0
    by = _by_method(run, "coffee.png")
    for entry in run["summary"]:
        assert entry["quality"] == 50
        for key in ("agreement", "agreement_ap50", "ap", "ap50", "ap75"):
            assert 0.0 <= entry[f"{key}[coco-detector]"] <= 1.0, (entry["method"], key)
        assert "top1[coco-detector]" not in entry
        # One photo: the AP of the set is that photo's own agreement AP.
        assert entry["agreement[coco-detector]"] == pytest.approx(by[entry["method"]]["agreement"]["coco-detector"])
    assert set(run["comparisons"]["bpp_at_agreement"]["full"]["coco-detector"]) == {"0.75", "0.9"}
    summary = (demo_dir / "summary.md").read_text()
    assert "# detection: pipeline 'offline-detection', task 'detection'" in summary
    assert "ap[coco-detector]" in summary and "bpp at agreement ≥ 0.9 (coco-detector)" in summary


def test_demo_tasks_are_checked_before_any_work(tmp_path):
    from discover_core.demo import run_demo

    with pytest.raises(InputError, match="no task nosuch"):
        run_demo(tmp_path / "a", tasks=["nosuch"])
    with pytest.raises(InputError, match="-c runs only the given file"):
        run_demo(tmp_path / "b", pipeline_file=ROOT / "examples/pipelines/oracle-boxes.yaml", tasks=["detection"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_set_scores_score_every_photo_at_once():
    from discover_core.photos import Photo
    from discover_core.demo.sets import SetScores
    from discover_core.demo.stats import Row, summarise

    class Head:
        name, task = "det", "detection"

        def __init__(self):
            self.calls = []

        def score(self, predictions, references=None, targets=None):
            self.calls.append((list(predictions), list(references), list(targets)))
            return {"agreement": len(predictions) / 10, "ap": 0.5}

    class Classifier:
        name, task = "cls", "classification"

    photos = [Photo(f"p{i}.png", None, [], [], "", [{"bbox": [0, 0, i + 1, 1], "category_id": 1}]) for i in range(3)]
    head = Head()
    sets = SetScores([head, Classifier()], photos)
    assert [h.name for h in sets.heads] == ["det"]
    for i in (2, 0, 1):
        sets.reference(head, i, f"ref{i}")
        sets.add(50, "full", head, i, f"pred{i}")
    sets.add(50, "avif", head, 1, "avif1")
    scores = sets.score()
    assert head.calls[0] == (["pred0", "pred1", "pred2"], ["ref0", "ref1", "ref2"],
                             [p.annotations for p in photos]), "once, photos in order, aligned"
    assert head.calls[1] == (["avif1"], ["ref1"], [photos[1].annotations]), "only the photos with that point"
    assert scores[(50, "full")]["det"] == {"photos": 3, "agreement": 0.3, "ap": 0.5}
    rows = [Row(p.name, 50, "full", 100, 0.1, {k: 30.0 for k in ("psnr", "psnr_in", "psnr_out", "ms_ssim",
                                                               "ssim_in", "ssim_out")}, {"det": 1.0}, {"det": None})
            for p in photos]
    entry = summarise(rows, {}, (50,), scores)[0]
    assert entry["agreement[det]"] == 0.3, "the set's score, not the mean of the photos' own (1.0)"
    assert entry["ap[det]"] == 0.5 and "top1[det]" not in entry


def test_demo_unknown_photo_is_a_user_error(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--photo", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no demo photo named nosuch" in err and "chelsea.png" in err and "Traceback" not in err


def test_demo_with_a_pipeline_without_heads(tmp_path):
    out = tmp_path / "oracle"
    assert main(["demo", "-o", str(out), "-c", str(ROOT / "examples/pipelines/oracle-boxes.yaml"),
                 "--photo", "chelsea", "--quality", "40"]) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert list(runs) == ["detection"], "-c runs only that pipeline, named after its first task"
    rows = runs["detection"]["rows"]
    assert rows and all(r["agreement"] == {} for r in rows)
    assert (out / "streams" / "chelsea-q40.dscv").exists() and not (out / "detection").exists()


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
    one = comparisons(anchor[:1] + test[:1])
    assert one["bd_rate_psnr_in"]["task-only"] is None, "BD-rate needs two points on each curve"


def test_bd_rate_is_withheld_when_curves_barely_overlap():
    from discover_core.demo import comparisons

    anchor = [{"method": "avif (same bpp)", "bpp": b, "psnr_in": p} for b, p in
              ((0.2, 30.0), (0.4, 33.0), (0.8, 36.0), (1.6, 39.0))]
    far = [{"method": "jpeg (same bpp)", "bpp": e["bpp"], "psnr_in": e["psnr_in"] - 8.0} for e in anchor]
    assert comparisons(anchor + far)["bd_rate_psnr_in"]["jpeg (same bpp)"] is None


def test_demo_task_option(tmp_path):
    assert main(["demo", "-o", str(tmp_path), "--task", "detection", "--photo", "chelsea", "--quality", "40"]) == 0
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert list(runs) == ["detection"] and not (tmp_path / "streams").exists()


def test_demo_segmentation_scores_mask_agreement_over_the_set(demo_dir):
    run = json.loads((demo_dir / "results.json").read_text())["runs"]["segmentation"]
    assert run["scored_over_set"] == ["person-segmenter"]
    original = run["original"]["person-segmenter"]
    assert original["photos"] == 1 and original["agreement"] == 1.0  # the mask IoU of the original with itself
    for entry in run["summary"]:
        assert 0.0 <= entry["agreement[person-segmenter]"] <= 1.0, entry["method"]


def test_a_segmenters_mask_is_drawn_inside_it_only():
    from discover_core.coco_ap import encode_mask
    from discover_core.pictures import draw_mask

    image = np.full((20, 30, 3), 40, np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:12, 8:25] = True
    drawn = np.asarray(draw_mask(image, encode_mask(mask)))
    assert (drawn[mask] != 40).any(axis=1).all() and (drawn[~mask] == 40).all()
