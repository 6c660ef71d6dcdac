import pytest
import yaml

from discover_core.errors import ConfigError
from discover_core.evaluate import RunSettings, Store, load_ablation, open_dataset, run_cells

import eval_helpers as h


def _ablation(tmp_path, grid, **extra):
    path = tmp_path / "abl.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "pipeline": h.pipeline_dict(), "grid": grid, **extra}, sort_keys=False))
    return path


def test_grid_is_the_product_of_its_axes_named_by_override(registry, tmp_path):
    abl = load_ablation(_ablation(tmp_path, {"entropy_model.options.region_quality": [20, 80],
                                             "entropy_model.options.codec": ["jpeg", "webp"]}), registry=registry)
    assert [c.name for c in abl.cells] == ["region_quality=20, codec=jpeg", "region_quality=20, codec=webp",
                                           "region_quality=80, codec=jpeg", "region_quality=80, codec=webp"]
    assert abl.cells[3].pipeline.resolved.options["entropy_model"].codec == "webp"


def test_every_cell_is_validated_before_anything_runs(registry, tmp_path):
    grid = {"grounders[0]": [{"plugin": "counting-grounder"}, {"plugin": "counting-grounder",
                                                               "options": {"fraction": 7}}],
            "entropy_model.options.region_quality": [30, 500]}
    with pytest.raises(ConfigError) as err:
        load_ablation(_ablation(tmp_path, grid), registry=registry)
    text = str(err.value)
    assert "cell 1 (" in text and "cell 2 (" in text and "cell 3 (" in text and "cell 0 (" not in text
    assert "grounders[0].options.fraction" in text and "entropy_model.options.region_quality" in text
    assert h.CountingGrounder.calls == []
    with pytest.raises(ConfigError, match="not an axis"):
        load_ablation(_ablation(tmp_path, {"entropy_model.options.region_quality": [30]}, rate="x.y"),
                      registry=registry)
    with pytest.raises(ConfigError, match="unknown key"):
        load_ablation(_ablation(tmp_path, {}, colour="red"), registry=registry)


def test_codec_sweep_grounds_each_image_once(registry, folder, tmp_path):
    abl = load_ablation(_ablation(tmp_path, {"entropy_model.options.region_quality": [20, 50, 80]}),
                        registry=registry)
    store = Store(tmp_path / "run")
    stats = run_cells(abl.cells, open_dataset(f"folder:{folder}"), store, RunSettings(save_pictures=0))
    assert sorted(h.CountingGrounder.calls) == ["img0.png", "img1.png", "img2.png"]
    assert stats.images == 9 and stats.cache_hits == 6
    # references (the head on the originals) are cached too: 3 predictions on originals, 2 x 9 on decodes
    aggs = store.aggregates()
    assert len(aggs) == 3
    bpps = [aggs[c["cell_id"]]["full"]["bpp"] for c in store.cells()]
    assert bpps == sorted(bpps)  # region quality up, rate up
    assert store.count_rows() == (18, 18)


def test_an_analyzer_change_grounds_again(registry, folder, tmp_path):
    abl = load_ablation(_ablation(tmp_path, {"grounders[0].options.fraction": [0.5, 0.25],
                                             "entropy_model.options.region_quality": [20, 80]}), registry=registry)
    run_cells(abl.cells, open_dataset(f"folder:{folder}"), Store(tmp_path / "run"), RunSettings(save_pictures=0))
    assert len(h.CountingGrounder.calls) == 6  # 2 grounder configs x 3 images, not 4 cells x 3


def test_without_the_cache_every_cell_grounds(registry, folder, tmp_path):
    abl = load_ablation(_ablation(tmp_path, {"entropy_model.options.region_quality": [20, 80]}), registry=registry)
    run_cells(abl.cells, open_dataset(f"folder:{folder}"), Store(tmp_path / "run"),
              RunSettings(analyzer_cache=False, save_pictures=0))
    assert len(h.CountingGrounder.calls) == 6


def test_example_ablations_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples" / "ablations"
    sizes = {p.stem: len(load_ablation(p).cells) for p in sorted(root.glob("*.yaml"))}
    assert sizes == {"analyzers": 8, "baselines": 16, "detection-rate-sweep": 4, "rate-sweep": 4}
