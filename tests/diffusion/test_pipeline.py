"""A whole pipeline: learned codec (sd-latent) -> stream -> controlnet composer, and decoding from the stream."""

from __future__ import annotations

import numpy as np
import pytest

import discover_core as dc
from discover_core.errors import DiscoverError
from discover_core.testing import samples

pytest.importorskip("compressai", reason="the learned codec needs the extra 'learned'")

SIZE = (256, 192)
"""Large enough for the sample's objects to fall into separate chunks at the codec's stride 16."""
CODEC = {"checkpoint": None, "target": "sd-latent", "channels": 16, "latent_channels": 16, "global_channels": 8}


@pytest.fixture
def setup(tmp_path, tiny_base, trained_controlnet):
    box_file = samples.write_box_file(tmp_path / "boxes.json", {samples.SAMPLE_NAME: samples.sample_regions(*SIZE)})
    data = samples.tiny_pipeline_dict(box_file)
    data["entropy_model"] = {"plugin": "hyperprior", "options": CODEC}
    paths = {"base": str(tiny_base), "controlnet": str(trained_controlnet)}
    data["composer"] = {"plugin": "controlnet", "options": {**paths, "steps": 2, "prompt_labels": True}}
    pipeline = dc.pipeline_from_dict(data, base_dir=tmp_path)
    image, meta = samples.sample_image(*SIZE), samples.sample_meta()
    return pipeline, pipeline.encode(image, meta), paths


def test_encode_decode_and_extract(setup):
    pipeline, stream, _ = setup
    rec = stream.header.composer
    assert rec.plugin == "controlnet" and rec.provider == "diffusion"
    assert not {"base", "controlnet", "steps", "seed", "device", "batch_size"} & set(rec.options)
    assert rec.options["prompt_labels"] is True
    assert rec.weights == pipeline.composer.weights_fingerprint()
    picture = pipeline.decode(stream)
    assert picture.shape == (SIZE[1], SIZE[0], 3)
    part = stream.extract(labels=["disc"])
    assert pipeline.decode(part).shape == picture.shape


def test_decode_from_the_stream_alone(setup):
    pipeline, full, paths = setup
    stream = full.extract(labels=["square"])  # partial: the steps matter where nothing arrived
    expected = pipeline.decode(stream)
    again = dc.decode(stream.to_bytes(), composer_options={**paths, "steps": 2},
                      entropy_model_options={"checkpoint": None})
    assert np.array_equal(again, expected)
    other_steps = dc.decode(stream.to_bytes(), composer_options={**paths, "steps": 3},
                            entropy_model_options={"checkpoint": None})
    assert other_steps.shape == expected.shape and not np.array_equal(other_steps, expected)


def test_other_weights_are_refused(setup):
    _, stream, paths = setup
    with pytest.raises(DiscoverError, match="sha256"):
        dc.decode(stream.to_bytes(), composer_options={"base": paths["base"], "steps": 2},
                  entropy_model_options={"checkpoint": None})
