"""A run killed at any point and run again ends with exactly the store of an uninterrupted run (issue 22).

The kill points are exact: ``DISCOVER_TEST_KILL=EVENT:N`` makes the runner SIGKILL its own process at the N-th
``grounded`` (an image's regions are in the analyzer cache, its rows not written) or ``committed`` (an image's
rows are written, its cell's aggregates not yet) event. In-process runs raise at the same points instead (the
models stay built between runs, which keeps the example ablations cheap).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from discover_core.evaluate import (Cell, RunSettings, Store, load_ablation, open_dataset, run_cells, runner,
                                   single_cell)
from discover_core.pipeline import load_pipeline
from discover_core.testing.samples import tiny_pipeline_dict

import eval_helpers as h

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ablations"


def snapshot(store: Store) -> str:
    """Everything a run leaves in its store but timings: cells, rows, aggregates, failures (as JSON: NaN == NaN)."""
    rows = [{k: v for k, v in r.items() if k != "timings"} for r in store.rows()]
    aggregates = {cell: {stream: {k: v for k, v in m.items() if not k.startswith("total_")}
                         for stream, m in per.items()} for cell, per in store.aggregates().items()}
    cells = [(c["cell_id"], c["name"], c["position"]) for c in store.cells()]
    failures = [(f["cell_id"], f["image"]) for f in store.failures()]
    assert rows and all(len(per) == 2 for per in aggregates.values()) and len(aggregates) == len(cells)
    return json.dumps({"cells": cells, "rows": rows, "aggregates": aggregates, "failures": failures},
                      sort_keys=True)


class Killed(BaseException):
    """What an in-process run raises where a real one would be SIGKILLed."""


def _killer(plan: str | None):
    seen: dict[str, int] = {}

    def checkpoint(event: str) -> None:
        seen[event] = seen.get(event, 0) + 1
        if f"{event}:{seen[event]}" == plan:
            raise Killed(plan)
    return checkpoint


def run_killed(monkeypatch, cells, dataset, folder: Path, kills: list[str]) -> Store:
    """Runs killed at each of ``kills`` in turn (each kill must happen), then a run that finishes."""
    for plan in kills + [None]:
        monkeypatch.setattr(runner, "checkpoint", _killer(plan))
        store = Store(folder)
        try:
            run_cells(cells(), dataset, store, RunSettings(save_pictures=0))
            assert plan is None, f"the run finished before {plan}"
        except Killed:
            pass
        finally:
            store.close()
    return Store(folder)


def _small_photo(folder: Path) -> str:
    """A folder of one demo photo at 160 px, named so that the analyzer ablation's oracle grounder finds no
    boxes of the full-size photo for it."""
    from discover_core.photos import load_photo

    folder.mkdir(parents=True)
    img = Image.fromarray(load_photo("chelsea.png"))
    img.thumbnail((160, 160), Image.BICUBIC)
    img.save(folder / "photo.png")
    return f"folder:{folder}"


def _cells(example: str, registry) -> list[Cell]:
    """The example's cells, as a new process makes them, but with the cheap test head for every task head (one for
    one: the row keys stay those of several heads), so that no network runs on every decoded stream."""
    cells = load_ablation(EXAMPLES / f"{example}.yaml", registry=registry).cells
    out = []
    for c in cells:
        heads = {f"tasks[{i}].task_heads": [{"plugin": "mean-head"}] * len(t.task_heads)
                 for i, t in enumerate(c.pipeline.config.tasks)}
        out.append(Cell(c.name, c.pipeline.with_overrides(heads), c.overrides, c.position))
    return out


def _psnr_only(reference, test, boxes) -> dict[str, float]:
    """What the example runs measure instead of the full quality report (MS-SSIM and SSIM maps, a good half of
    their time here): PSNR whole and inside the regions, which depends on the same pixels and boxes."""
    from discover_core.metrics import psnr, region_mask

    mask = region_mask(reference.shape[1], reference.shape[0], boxes)
    return {"psnr": psnr(reference, test), "psnr_in": psnr(reference, test, mask)}


@pytest.fixture(scope="module")
def small_photo(tmp_path_factory):
    return _small_photo(tmp_path_factory.mktemp("photo") / "data")


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.yaml")))
def test_every_example_ablation_killed_anywhere_resumes_exactly(example, small_photo, registry, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(runner, "quality_report", _psnr_only)
    dataset = open_dataset(small_photo)
    cells = lambda: _cells(example, registry)  # noqa: E731
    whole = Store(tmp_path / "whole")
    run_cells(cells(), dataset, whole, RunSettings(save_pictures=0))
    n = len(cells())
    # mid-image (regions cached, rows not written), after a cell's last image (aggregates not written), mid-sweep
    killed = run_killed(monkeypatch, cells, dataset, tmp_path / "killed", ["grounded:1", "committed:1",
                                                                         f"committed:{(n - 1) // 2}"])
    assert killed.count_rows()[0] == n * 2
    assert snapshot(killed) == snapshot(whole)


def _tiny_ablation(tmp_path: Path) -> tuple[Path, str]:
    folder = h.image_folder(tmp_path / "images", [(160, 120), (128, 96), (144, 112)])
    (tmp_path / "boxes.json").write_text(json.dumps({"img0.png": [{"box": [10, 10, 90, 80], "label": "square"}],
                                                     "img1.png": [{"box": [4, 8, 60, 50], "label": "disc"}]}))
    abl = tmp_path / "abl.yaml"
    abl.write_text(yaml.safe_dump({"name": "kill", "pipeline": tiny_pipeline_dict(tmp_path / "boxes.json"),
                                   "grid": {"entropy_model.options.region_quality": [30, 70]}}))
    return abl, f"folder:{folder}"


def test_a_sweep_sigkilled_mid_image_and_after_a_commit_resumes_exactly(tmp_path):
    abl, data = _tiny_ablation(tmp_path)
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", "import sys; from discover_core.cli import main; sys.exit(main())", "sweep",
           str(abl), "--data", data, "-o", str(run), "--pictures", "0"]
    for kill in ("grounded:2", "committed:1", None):
        env = {**os.environ, "OMP_NUM_THREADS": "1", runner.KILL_ENV: kill or ""}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == (-signal.SIGKILL if kill else 0), done.stderr
    # grounded:2 kept the 1st image of the 1st cell, committed:1 added the 2nd: the last run skipped 2
    assert "2 already in the store" in done.stdout.replace("\n", " ")
    whole = Store(tmp_path / "whole")
    run_cells(load_ablation(abl).cells, open_dataset(data), whole, RunSettings(save_pictures=0))
    assert snapshot(Store(run)) == snapshot(whole)


def test_an_evaluate_run_killed_anywhere_resumes_exactly(tmp_path, monkeypatch):
    abl, data = _tiny_ablation(tmp_path)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump(yaml.safe_load(abl.read_text())["pipeline"]))
    cells = lambda: [single_cell(load_pipeline(pipeline))]  # noqa: E731
    whole = Store(tmp_path / "whole")
    run_cells(cells(), open_dataset(data), whole, RunSettings(save_pictures=0))
    killed = run_killed(monkeypatch, cells, open_dataset(data), tmp_path / "killed",
                        ["grounded:1", "committed:1", "grounded:1", "committed:1"])
    assert snapshot(killed) == snapshot(whole)
