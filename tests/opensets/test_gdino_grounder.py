"""The grounding-dino grounder on a tiny Grounding DINO saved with save_pretrained and loaded back by path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from discover_core.errors import WeightsError
from discover_core.interfaces import Context, ImageMeta
from discover_core.testing import GrounderContract
from discover_opensets.grounding_dino import GroundingDino

META = ImageMeta("sample.png")


def image(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def grounder(tiny_gdino):
    # thresholds 0: the random model's scores are arbitrary, every query is a detection
    return GroundingDino(GroundingDino.Options(model=str(tiny_gdino), box_threshold=0.0, text_threshold=0.0,
                                               max_regions=1000), Context())


def count_forwards(model):
    calls = []
    handle = model.register_forward_pre_hook(lambda m, args, kwargs: calls.append(kwargs["input_ids"].shape),
                                             with_kwargs=True)
    return calls, handle


def test_loads_by_path_and_grounds_candidate_labels(grounder):
    labels = ["Cat", "traffic light", "dog"]
    regions = grounder.ground(image(), labels, META)
    assert regions and {r.label for r in regions} <= set(labels)
    for r in regions:
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120 and 0 <= r.score <= 1


def test_many_labels_run_as_one_batch_of_prompts(grounder):
    labels = [f"w{i}" for i in range(300)]
    calls, handle = count_forwards(grounder.model)
    try:
        regions = grounder.ground(image(), labels, META)
    finally:
        handle.remove()
    _, prompts, _ = grounder.plan(labels)
    assert len(prompts) >= 3 and len(calls) == 1 and calls[0][0] == len(prompts) and calls[0][1] <= 256
    assert regions and {r.label for r in regions} <= set(labels)
    # labels from every prompt can come back (every prompt took part)
    assert len({next(k for k, p in enumerate(prompts) if labels.index(r.label) in p.labels) for r in regions}) > 1


def test_batched_and_one_prompt_at_a_time_agree(tiny_gdino, grounder):
    labels = [f"w{i}" for i in range(300)]
    one = GroundingDino(GroundingDino.Options(model=str(tiny_gdino), box_threshold=0.0, text_threshold=0.0,
                                              max_regions=1000, batch_size=1), Context())
    calls, handle = count_forwards(one.model)
    try:
        a = one.ground(image(seed=3), labels, META)
    finally:
        handle.remove()
    b = grounder.ground(image(seed=3), labels, META)
    assert len(calls) == len(one.plan(labels)[1])
    assert [r.label for r in a] == [r.label for r in b]
    np.testing.assert_allclose([r.box for r in a], [r.box for r in b], atol=1e-3)


def test_each_region_has_exactly_one_candidate_label_and_duplicates_merge(grounder):
    labels = ["cat", "CAT ", "dog"]
    regions = grounder.ground(image(), labels, META)
    assert {r.label for r in regions} <= {"cat", "dog"}  # one spelling per normalised label


def test_thresholds_filter(tiny_gdino, grounder):
    labels = ["cat", "dog", "bird"]
    every = grounder.ground(image(), labels, META)
    cut = float(np.median([r.score for r in every]))
    strict = GroundingDino(GroundingDino.Options(model=str(tiny_gdino), box_threshold=cut, text_threshold=0.0,
                                                 max_regions=1000), Context())
    kept = strict.ground(image(), labels, META)
    assert 0 < len(kept) < len(every) and all(r.score > cut for r in kept)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="not a transformers Grounding DINO folder"):
        GroundingDino(GroundingDino.Options(model=str(tmp_path / "empty")), Context(base_dir=tmp_path))


def test_hub_id_offline_names_the_local_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsError, match=r"IDEA-Research/grounding-dino-tiny") as err:
        GroundingDino(GroundingDino.Options(), Context(cache_dir=tmp_path / "cache", base_dir=tmp_path))
    assert str(tmp_path / "cache" / "hub" / "IDEA-Research" / "grounding-dino-tiny") in str(err.value)


def test_open_vocabulary():
    assert GroundingDino.vocabulary(GroundingDino.Options(), Context()) is None


class TestGroundingDinoContract(GrounderContract):
    component_class = GroundingDino

    @pytest.fixture
    def options_dict(self, tiny_gdino):
        return {"model": str(tiny_gdino), "box_threshold": 0.0, "text_threshold": 0.0}


def test_default_hub_id_reads_a_local_copy_in_the_cache(tiny_gdino, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "cache"
    shutil.copytree(tiny_gdino, cache / "hub" / "IDEA-Research" / "grounding-dino-tiny")
    g = GroundingDino(GroundingDino.Options(box_threshold=0.0, text_threshold=0.0),
                      Context(cache_dir=cache, base_dir=tmp_path))
    assert g.options.model == "IDEA-Research/grounding-dino-tiny"
    assert g.ground(image(), ["cat"], META)
    assert g.weights_fingerprint().startswith("sha256:")
