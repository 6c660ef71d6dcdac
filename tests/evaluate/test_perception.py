import numpy as np
import pytest

from discover_core.errors import WeightsError
from discover_core.evaluate import RunSettings, Store, open_dataset, run_cells, single_cell
from discover_core.evaluate import perception as pm
from discover_core.interfaces import Context
from discover_core.pipeline import pipeline_from_dict

import eval_helpers as h


def test_clic_view_is_the_centre_768_crop_after_resizing_the_shorter_side():
    image = np.zeros((400, 1000, 3), np.uint8)
    image[:, 500:] = 255  # the right half white
    view = pm.clic_view(image)
    assert view.shape == (768, 768, 3)
    # resized to 768 x 1920, cropped at x 576..1344: the white half starts at 1920/2 - 576 = 384
    assert view[:, :380].max() < 10 and view[:, 390:].min() > 245
    assert pm.patches(view).shape == (9, 256, 256, 3)


def test_fid_and_kid_of_known_feature_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 4))
    assert pm.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([2.0, 0, 0, 0])
    assert pm.fid(a, shifted) == pytest.approx(4.0, rel=1e-3)  # |mu1 - mu2|^2 with equal covariances
    assert abs(pm.kid(a, rng.normal(size=(4000, 4)), subsets=10, subset_size=500)) < 0.01
    assert pm.kid(a, shifted, subsets=10, subset_size=500) > 1.0


def test_missing_backbone_weights_name_the_file(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError, match="weights-inception-2015-12-05-6726825d.pth"):
        pm.Features("inception").build(ctx)
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        pm.PairMetric("lpips", ctx)
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        pm.PairMetric("dists", ctx, weights_dir=tmp_path / "mine")


def test_fid_with_a_named_proxy_is_labelled_with_its_name(registry, folder, tmp_path):
    p = pipeline_from_dict(h.pipeline_dict(heads=False), registry=registry)
    store = Store(tmp_path / "run")
    run_cells([single_cell(p)], open_dataset(f"folder:{folder}"), store,
              RunSettings(save_pictures=0, perception=("fid", "kid"), features="proxy:mobilenet_v2"))
    agg = next(iter(store.aggregates().values()))
    assert "fid" not in agg["full"] and "kid" not in agg["full"]
    assert agg["full"]["fid@proxy:mobilenet_v2"] >= 0
    assert "kid@proxy:mobilenet_v2" in agg["task:things"]
    # the task's part (coarse background outside the region) is further from the originals than the full stream
    assert agg["task:things"]["fid@proxy:mobilenet_v2"] > agg["full"]["fid@proxy:mobilenet_v2"]
    feats = store.features(next(iter(store.aggregates())), "full")
    assert len(feats["real"]) == 3 and feats["real"][0].shape == (9, 1280) and set(feats["extractor"]) == {
        "proxy:mobilenet_v2"}
