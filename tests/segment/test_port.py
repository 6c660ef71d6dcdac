"""The PyTorch port against the original JavaScript runtime: reference outputs made by scripts/check_segment_port.py.

The reference (data/reference.json) was computed by @vladmandic/human's own Node build (dist/human.node-wasm.js
on tfjs 4.22.0, WebAssembly backend) on the same pixels and the same fetched model files: per model and photo,
the person probability at the model's resolution (block means) and at the photo's (pixels on the mask's edge
and elsewhere), the mask's area and the mean probability. Probabilities must agree within 1e-4, the mask's
area within 0.1 % of the photo.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from discover_segment import fetch
from discover_segment.reference import compare, pixels_sha256

from .conftest import DATA, PHOTOS

REFERENCE = json.loads((DATA / "reference.json").read_text())


def test_reference_is_of_the_fetched_models():
    assert REFERENCE["model"] == {"package": fetch.NPM_PACKAGE, "version": fetch.VERSION, "files": fetch.FILES}
    assert sorted(REFERENCE["images"]) == sorted(fetch.FILES)
    assert all(sorted(REFERENCE["images"][m]) == sorted(PHOTOS) for m in fetch.FILES)
    assert {m: REFERENCE["runtime"][m]["input"] for m in fetch.FILES} == {"selfie": [256, 256], "meet": [144, 256]}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(fetch.FILES))
def test_port_matches_the_javascript_runtime(segmenters, photos, model):
    port = segmenters[model]
    assert list(port.input_size) == REFERENCE["runtime"][model]["input"]
    for name in PHOTOS:
        ref = REFERENCE["images"][model][name]
        image = photos[name]
        assert pixels_sha256(image) == ref["pixels_sha256"], \
            f"the {name} photo is not the one the reference was made from (another scikit-image/matplotlib?); " \
            "re-run scripts/check_segment_port.py --write"
        model_prob = port.model_probability(image)
        d = compare(ref, model_prob.numpy(), port.to_image(model_prob, *image.shape[:2]))
        assert d.ok(tolerance=1e-4, area_fraction=1e-3), (model, name, d)
    # the references are not all alike: people are found where there are people
    areas = {n: REFERENCE["images"][model][n]["area"] / photos[n][..., 0].size for n in PHOTOS}
    assert areas["astronaut"] > 0.3 and areas["grace_hopper"] > 0.5 and areas["stereo_motorcycle"] < 0.1


def test_compare_notices_a_wrong_port(segmenters, photos):
    """The comparison is not vacuous: a one-pixel shift of the mask, or probabilities off by 1e-3, are reported."""
    port, image = segmenters["selfie"], photos["astronaut"]
    ref = REFERENCE["images"]["selfie"]["astronaut"]
    model_prob = port.model_probability(image)
    model_prob, prob = model_prob.numpy(), port.to_image(model_prob, *image.shape[:2])
    assert compare(ref, model_prob, prob).ok()
    assert not compare(ref, np.roll(model_prob, 1, axis=1), np.roll(prob, 1, axis=1)).ok()
    assert not compare(ref, model_prob, np.clip(prob * 1.001 + 1e-3, 0, 1)).ok()
