"""The PyTorch port against the original JavaScript runtime: reference outputs made by scripts/check_centernet_port.py.

The reference (data/reference.json) was computed by @vladmandic/human's own Node build (dist/human.node-wasm.js
on tfjs 4.22.0, WebAssembly backend) on the same pixels: every raw detection row of the model's output and
the final ``human.detect()`` objects. Boxes must agree within 1 px of the photo, scores within 1e-3.
"""

from __future__ import annotations

import json

import pytest

from discover_centernet import fetch
from discover_centernet.reference import compare, pixels_sha256

from .conftest import DATA, PHOTOS

REFERENCE = json.loads((DATA / "reference.json").read_text())


def test_reference_is_of_the_fetched_model():
    assert REFERENCE["model"] == {"package": fetch.NPM_PACKAGE, "version": fetch.VERSION, "files": fetch.FILES}
    assert REFERENCE["runtime"]["human"] == fetch.VERSION
    assert sorted(REFERENCE["images"]) == sorted(PHOTOS)


@pytest.mark.slow
@pytest.mark.parametrize("name", PHOTOS)
def test_port_matches_the_javascript_runtime(centernet, photos, name):
    ref = REFERENCE["images"][name]
    image = photos[name]
    assert pixels_sha256(image) == ref["pixels_sha256"], \
        f"the {name} photo is not the one the reference was made from (another scikit-image/matplotlib?); " \
        "re-run scripts/check_centernet_port.py --write"
    cfg = REFERENCE["object_config"]
    raw = centernet.raw(image)
    dets = centernet.detect(image, cfg["minConfidence"], cfg["iouThreshold"], cfg["maxDetected"])
    d = compare(name, ref, raw, dets)
    assert d.raw_rows >= 50 and not d.unmatched_raw, d
    assert d.raw_box_px <= 1.0 and d.raw_score <= 1e-3, d
    assert d.human_count[0] == d.human_count[1] >= 1 and not d.label_mismatches, d
    assert d.human_box_px <= 1.0 and d.human_score <= 1e-3, d


def test_compare_notices_a_wrong_port(centernet, photos):
    """The comparison is not vacuous: shifted boxes and other scores are reported."""
    ref = REFERENCE["images"]["astronaut"]
    raw = centernet.raw(photos["astronaut"])
    shifted = raw.copy()
    shifted[:, 0] += 3.0  # 3 input pixels = 3 photo pixels (512 wide)
    assert not compare("astronaut", ref, shifted, []).ok()
    rescored = raw.copy()
    rescored[:, 4] *= 1.01
    d = compare("astronaut", ref, rescored, [])
    assert d.raw_score > 1e-3 and not d.ok()
