"""The Ray engine of evaluate / sweep: the local engine's rows, failures retried then recorded, back-pressure."""

from __future__ import annotations

import pytest

from discover_core.distributed import RayEngine, RayOptions
from discover_core.distributed.cluster import Pool, Task, actor_options
from discover_core.errors import WeightsError
from discover_core.evaluate import RunSettings, Store, load_ablation, open_dataset, run_cells, single_cell
from discover_core.pipeline import pipeline_from_dict

import ray_helpers as h

pytestmark = pytest.mark.xdist_group("ray")


def _evaluate(tmp_path, name, dataset, engine, pipeline=None):
    run = tmp_path / name
    store = Store(run)
    p = pipeline_from_dict(pipeline or h.pipeline(tmp_path))
    stats = run_cells([single_cell(p)], dataset, store, RunSettings(pictures_dir=run / "pictures", save_pictures=2),
                      engine=engine)
    return stats, store


def test_rows_pictures_and_caches_are_the_local_engines(ray_local, tmp_path):
    folder = h.images(tmp_path / "img", 5)
    _, local = _evaluate(tmp_path, "local", open_dataset(f"folder:{folder}"), None)
    import torch

    # bit-exact head outputs need the same torch thread count in the actors as here
    stats, remote = _evaluate(tmp_path, "ray", open_dataset(f"folder:{folder}"),
                              RayEngine(RayOptions(workers=2, threads=torch.get_num_threads())))
    assert stats.images == 5 and stats.failed == 0
    rows = h.without_timings(remote.rows())
    assert len(rows) == 10 and rows == h.without_timings(local.rows())  # bytes, chunks, quality, heads
    assert h.without_times(remote.aggregates()) == h.without_times(local.aggregates())
    pictures = h.picture_bytes(tmp_path / "ray" / "pictures")
    assert pictures == h.picture_bytes(tmp_path / "local" / "pictures") and len(pictures) == 2 * (1 + 1 + 2)
    count = "SELECT COUNT(*) FROM {}"
    for table in ("analyzer_cache", "reference_cache"):
        assert remote.db.execute(count.format(table)).fetchone() == (5,)
    again = run_cells([single_cell(pipeline_from_dict(h.pipeline(tmp_path)))], open_dataset(f"folder:{folder}"),
                      remote, RunSettings(save_pictures=0), engine=RayEngine(RayOptions(workers=2)))
    assert again.images == 0 and again.skipped == 5  # a finished run is not redone


def test_sweep_cells_match_and_ground_each_image_once(ray_local, tmp_path):
    import yaml

    folder = h.images(tmp_path / "img", 3)
    abl = tmp_path / "abl.yaml"
    abl.write_text(yaml.safe_dump({"name": "q", "pipeline": h.pipeline(tmp_path, heads=False),
                                   "grid": {"entropy_model.options.region_quality": [40, 80]}}))
    stores = {}
    for name, engine in (("local", None), ("ray", RayEngine(RayOptions(workers=2, in_flight=1)))):
        stores[name] = Store(tmp_path / name)
        run_cells(load_ablation(abl).cells, open_dataset(f"folder:{folder}"), stores[name],
                  RunSettings(save_pictures=0), engine=engine)
    assert h.without_timings(stores["ray"].rows()) == h.without_timings(stores["local"].rows())
    assert len(list(stores["ray"].rows())) == 2 * 3 * 2
    assert stores["ray"].db.execute("SELECT COUNT(*) FROM analyzer_cache").fetchone() == (3,)


def test_failed_images_are_retried_then_recorded_and_a_rerun_finishes_them(ray_local, tmp_path):
    folder = h.images(tmp_path / "img", 4)
    (folder / "img9.png").write_bytes(b"not an image at all")
    counters = tmp_path / "counters"
    plan = {"img0.png": ("raise", 2), "img1.png": ("raise", -1), "img2.png": ("die", 1)}
    engine = RayEngine(RayOptions(workers=2, retries=2))
    stats, store = _evaluate(tmp_path, "run", h.flaky_dataset(folder, counters, plan), engine,
                             h.pipeline(tmp_path, heads=False))
    assert stats.images == 3 and stats.failed == 2
    tried = {name: h.attempts(counters / name) for name in ("img0.png", "img1.png", "img2.png", "img3.png")}
    assert tried == {"img0.png": 3, "img1.png": 3, "img2.png": 2, "img3.png": 1}
    failures = {f["image"]: f for f in store.failures()}
    assert set(failures) == {"img1.png", "img9.png"}
    assert failures["img1.png"]["attempts"] == 3 and "RuntimeError: flaky loader, attempt 3" in failures["img1.png"]["error"]
    assert failures["img9.png"]["attempts"] == 1 and "img9.png" in failures["img9.png"]["error"]  # a user error
    assert {r["image"] for r in store.rows()} == {"img0.png", "img2.png", "img3.png"}

    again = run_cells([single_cell(pipeline_from_dict(h.pipeline(tmp_path, heads=False)))],
                      h.flaky_dataset(folder, counters, {}), store, RunSettings(save_pictures=0), engine=engine)
    assert again.images == 1 and again.failed == 1 and again.skipped == 3  # img1 now loads; img9 is still bad
    assert [f["image"] for f in store.failures()] == ["img9.png"]
    assert h.attempts(counters / "img0.png") == 3 and h.attempts(counters / "img1.png") == 4  # nothing redone
    n, keys = store.count_rows()
    assert n == keys == 4 * 2


def test_a_component_that_fails_to_build_fails_once_before_any_image(ray_local, tmp_path):
    folder = h.images(tmp_path / "img", 2)
    d = h.pipeline(tmp_path)
    d["tasks"][0]["task_heads"][0]["options"]["weights"] = str(tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="missing.pth"):
        _evaluate(tmp_path, "run", open_dataset(f"folder:{folder}"), RayEngine(RayOptions(workers=2)), d)
    assert list(Store(tmp_path / "run").rows()) == []


def test_pool_keeps_a_bounded_number_of_tasks_in_flight(ray_local):
    opts = RayOptions(workers=2, in_flight=2)
    remote = ray_local.remote(h.Echo).options(**actor_options(opts))
    pool = Pool(ray_local, lambda i: remote.remote(), 2, opts).start()
    pulled, results, ahead = [0], [], []

    def tasks():
        for i in range(20):
            pulled[0] += 1
            ahead.append(pulled[0] - len(results))
            yield Task(i, i)

    for out in pool.run(tasks(), lambda actor, t: actor.run.remote(t.payload)):
        results.append(out.result)
    pool.stop()
    assert sorted(results) == [2 * i for i in range(20)]
    assert max(ahead) <= 2 * 2 and ahead[-1] >= 2  # never more than workers x in_flight, and the actors were busy
