import json
import os
import sqlite3

import pytest

from discover_core.errors import InputError
from discover_core.evaluate import RunSettings, Store, open_dataset, run_cells, single_cell
from discover_core.pipeline import pipeline_from_dict

import eval_helpers as h


def _run(registry, spec, run, **kw):
    p = pipeline_from_dict(h.pipeline_dict(**kw), registry=registry)
    store = Store(run)
    return run_cells([single_cell(p)], open_dataset(spec), store, RunSettings(pictures_dir=run / "pictures")), store


def test_rows_per_image_and_stream_with_chunks_quality_and_heads(registry, folder, tmp_path):
    stats, store = _run(registry, f"folder:{folder}", tmp_path / "run")
    rows = list(store.rows())
    assert stats.images == 3 and len(rows) == 6  # full + task:things per image
    assert {r["stream"] for r in rows} == {"full", "task:things"}
    full = next(r for r in rows if r["stream"] == "full" and r["image"] == "img0.png")
    part = next(r for r in rows if r["stream"] == "task:things" and r["image"] == "img0.png")
    assert full["bytes"] == sum(full["chunks"].values()) and "background" in full["chunks"]
    assert "rest" in full["chunks"] and "rest" not in part["chunks"] and part["bytes"] < full["bytes"]
    assert full["bpp"] == pytest.approx(full["bytes"] * 8 / (96 * 64))
    for key in ("psnr", "psnr_in", "psnr_out", "ms_ssim", "ssim_in", "ssim_out"):
        assert key in full["quality"]
    head = full["heads"]["things/mean-head"]
    assert set(head) >= {"prediction", "reference", "metrics"} and "agreement" in head["metrics"]
    assert (tmp_path / "run" / "pictures" / "original" / "img0.png").is_file()


def test_dataset_bpp_is_total_bits_over_total_pixels_and_heads_score_once(registry, folder, tmp_path):
    _, store = _run(registry, f"folder:{folder}", tmp_path / "run")
    rows = [r for r in store.rows() if r["stream"] == "full"]
    agg = next(iter(store.aggregates().values()))["full"]
    pixels = sum(w * h_ for w, h_ in h.SIZES)
    assert agg["bpp"] == pytest.approx(sum(r["bytes"] for r in rows) * 8 / pixels)
    mean_of_bpp = sum(r["bpp"] for r in rows) / len(rows)
    assert abs(agg["bpp"] - mean_of_bpp) > 1e-3  # different image sizes: not the mean of per-image bpp
    dataset_calls = [c for c in h.MeanHead.scored if c["n"] == 3]
    assert len(dataset_calls) == 2  # once per stream, over the whole dataset, in image-id order
    assert [p["mean"] for p in dataset_calls[0]["predictions"]] == [
        r["heads"]["things/mean-head"]["prediction"]["mean"] for r in sorted(rows, key=lambda r: r["image_id"])]
    assert "things/mean-head/agreement" in agg


def test_targets_reach_the_heads_only_when_every_image_has_one(registry, tmp_path):
    for name in ("10", "250"):
        h.image_folder(tmp_path / "cls" / name, sizes=[(32, 32), (40, 30)])
    _, store = _run(registry, f"classes:{tmp_path / 'cls'}", tmp_path / "run")
    agg = next(iter(store.aggregates().values()))["task:things"]
    assert "things/mean-head/top1" in agg
    assert [c["targets"] for c in h.MeanHead.scored if c["n"] == 4][0] == [10, 10, 250, 250]


def test_resume_skips_finished_images_and_never_grounds_again(registry, folder, tmp_path):
    _run(registry, f"folder:{folder}", tmp_path / "run")
    calls = len(h.CountingGrounder.calls)
    stats, store = _run(registry, f"folder:{folder}", tmp_path / "run")
    assert stats.images == 0 and stats.skipped == 3 and len(h.CountingGrounder.calls) == calls
    assert store.count_rows() == (6, 6)


def test_interrupted_run_keeps_finished_images_and_resume_completes(registry, folder, tmp_path, monkeypatch):
    seen = []
    original = h.MeanHead.predict

    def flaky(self, image):
        seen.append(1)
        if len(seen) == 6:  # per image: the reference and 2 streams; the 2nd image dies on its last stream
            raise KeyboardInterrupt
        return original(self, image)

    monkeypatch.setattr(h.MeanHead, "predict", flaky)
    with pytest.raises(KeyboardInterrupt):
        _run(registry, f"folder:{folder}", tmp_path / "run")
    store = Store(tmp_path / "run")
    assert {r["image"] for r in store.rows()} == {"img0.png"}  # the image in flight left nothing
    monkeypatch.setattr(h.MeanHead, "predict", original)
    stats, store = _run(registry, f"folder:{folder}", tmp_path / "run")
    assert stats.images == 2 and stats.skipped == 1
    assert store.count_rows() == (6, 6)


def test_rows_record_config_versions_and_fingerprint_and_another_dataset_is_refused(registry, folder, tmp_path):
    _run(registry, f"folder:{folder}", tmp_path / "run")
    db = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    config, versions, fp = db.execute("SELECT config, versions, dataset_fingerprint FROM rows").fetchone()
    assert json.loads(config)["options"]["entropy_model"]["region_quality"] == 50
    assert json.loads(versions)["entropy_model"]["plugin"] == "roi-image"
    assert json.loads(versions)["grounders[0]"]["distribution"] == "local"
    assert fp == open_dataset(f"folder:{folder}").fingerprint
    (folder / "img0.png").unlink()
    with pytest.raises(InputError, match="another dataset"):
        _run(registry, f"folder:{folder}", tmp_path / "run")


def test_a_store_path_that_is_a_file_is_a_user_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError):
        Store(tmp_path / "f" / "run")
    with pytest.raises(InputError, match="no results store"):
        Store.open_existing(tmp_path)


def test_an_unreadable_image_is_recorded_and_the_run_goes_on(registry, folder, tmp_path):
    (folder / "img1.png").write_bytes(b"not an image at all")
    for attempt in (1, 2):  # run again: the image is tried again, the others are not redone
        stats, store = _run(registry, f"folder:{folder}", tmp_path / "run")
        assert stats.failed == stats.input_errors == 1 and stats.exit_code == 2
        assert stats.images == (2 if attempt == 1 else 0)
        assert [(f["image"], f["attempts"]) for f in store.failures()] == [("img1.png", 1)]
        assert "img1.png" in store.failures()[0]["error"]
        assert {r["image"] for r in store.rows()} == {"img0.png", "img2.png"} and store.count_rows() == (4, 4)
        assert next(iter(store.aggregates().values()))["full"]["images"] == 2


@pytest.mark.parametrize("command", ["evaluate", "sweep"])
def test_evaluate_and_sweep_go_past_an_unreadable_image_then_exit_2(command, tmp_path, capsys):
    import yaml

    from discover_core.cli import main
    from discover_core.testing.samples import tiny_pipeline_dict

    folder = h.image_folder(tmp_path / "images")
    (folder / "img1.png").write_bytes(b"\x89PNG truncated")
    (tmp_path / "boxes.json").write_text("{}")
    pipeline = tiny_pipeline_dict(tmp_path / "boxes.json")
    if command == "evaluate":
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(pipeline))
        args = ["evaluate", "-c", str(tmp_path / "p.yaml")]
    else:
        (tmp_path / "abl.yaml").write_text(yaml.safe_dump({"name": "t", "pipeline": pipeline, "grid": {
            "entropy_model.options.region_quality": [30, 60]}}))
        args = ["sweep", str(tmp_path / "abl.yaml")]
    code = main(args + ["--data", f"folder:{folder}", "-o", str(tmp_path / "run"), "--pictures", "0"])
    text = " ".join(capsys.readouterr().out.split())
    cells = 1 if command == "evaluate" else 2
    assert code == 2, text
    assert f"{2 * cells} image evaluations" in text
    assert f"{cells} image evaluation(s) failed ({cells} for their input" in text
    assert Store(tmp_path / "run").count_rows() == (2 * 2 * cells, 2 * 2 * cells)


def test_a_folder_another_live_run_is_writing_is_refused_until_that_run_ends(registry, folder, tmp_path):
    # Two runs of one folder race (the cause of issue 22's IntegrityError): the second skips only the images
    # finished when it starts and fails on the primary key when it writes one the first finished meanwhile.
    first = Store(tmp_path / "run")
    with first.writing():
        with pytest.raises(InputError, match=rf"being written by another run \(pid {os.getpid()} on"):
            _run(registry, f"folder:{folder}", tmp_path / "run")
    stats, store = _run(registry, f"folder:{folder}", tmp_path / "run")
    assert stats.images == 3 and store.count_rows() == (6, 6)


def test_open_run_gives_the_settings_and_the_store_evaluate_and_sweep_share(tmp_path):
    from discover_core.evaluate import open_run

    settings, store = open_run(tmp_path / "run", "sweep", analyzer_cache=False, pictures=2, perception="fid, lpips",
                               meta={"ablation": {"name": "a", "axes": ["x"]}})
    assert (settings.analyzer_cache, settings.save_pictures, settings.perception) == (False, 2, ("fid", "lpips"))
    assert settings.pictures_dir == tmp_path / "run" / "pictures" and store.path == tmp_path / "run" / "results.sqlite"
    assert store.meta("kind") == "sweep" and store.meta("ablation") == {"name": "a", "axes": ["x"]}
    assert open_run(tmp_path / "other", "evaluate", perception=["kid"])[0].perception == ("kid",)
