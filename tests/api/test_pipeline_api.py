"""The Python API mirrors the CLI: load_pipeline -> encode -> extract -> decode, and decode from bytes alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import discover_core as dc
from discover_core.metrics import psnr, region_mask

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "examples" / "pipelines" / "oracle-boxes.yaml"


@pytest.fixture(scope="module")
def chelsea_file(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


@pytest.fixture(scope="module")
def pipeline() -> dc.Pipeline:
    return dc.load_pipeline(ORACLE)


def test_encode_extract_decode_round_trip(pipeline, chelsea_file):
    image, meta = dc.load_image(chelsea_file)
    stream = pipeline.encode(chelsea_file)  # a path works as well as an array
    assert isinstance(stream, dc.Stream)
    assert stream.to_bytes() == pipeline.encode(image, meta).to_bytes()
    assert stream.header.tasks == ["detection"]
    assert stream.header.labels == ["cat"]  # the annotation's only COCO-80 label on this photo
    content = [c for c in stream.chunks if c.kind == "content"]
    assert {c.name for c in content} == {"region-0", "rest"}
    assert all(c.tasks == ("detection",) for c in content if c.labels)
    assert all(c.tasks == () for c in content if not c.labels), "the rest of the picture belongs to no task"

    part = stream.extract(task="detection")
    assert part.is_partial and len(part.to_bytes()) < len(stream.to_bytes())
    full_picture = pipeline.decode(stream)
    task_picture = pipeline.decode(part)
    assert full_picture.shape == task_picture.shape == image.shape
    # Decoding needs only the stream: the module-level decode rebuilds the components from its header.
    assert np.array_equal(dc.decode(part.to_bytes()), task_picture)

    boxes = [b for c in part.chunks for b in c.boxes]
    inside = region_mask(image.shape[1], image.shape[0], boxes)
    assert psnr(image, task_picture, inside) > 30
    assert psnr(image, task_picture, inside) > psnr(image, task_picture, ~inside) + 3
    assert psnr(image, full_picture, ~inside) > psnr(image, task_picture, ~inside) + 3


def test_variant_shares_unchanged_components(pipeline, chelsea_file):
    image, meta = dc.load_image(chelsea_file)
    regions = pipeline.ground(image, meta)
    low = pipeline.variant(entropy_model={"region_quality": 20, "rest_quality": 20})
    high = pipeline.variant(entropy_model={"region_quality": 90, "rest_quality": 90})
    assert low.grounder is pipeline.grounder and high.labels is pipeline.labels
    assert low.entropy_model is not high.entropy_model
    small, big = low.encode(image, meta, regions), high.encode(image, meta, regions)
    assert len(small.to_bytes()) < len(big.to_bytes())
    assert pipeline.resolved.options["entropy_model"].region_quality == 70, "the original is unchanged"
    with pytest.raises(dc.ConfigError, match=r"entropy_model.options.region_quality"):
        pipeline.variant(entropy_model={"region_quality": 101})


def test_decode_follows_the_stream_header_not_the_pipeline(pipeline, chelsea_file):
    jpeg = pipeline.variant(entropy_model={"codec": "jpeg"})
    stream = jpeg.encode(chelsea_file)
    assert stream.header.entropy_model.options == {"codec": "jpeg"}
    # `pipeline` codes AVIF; its decode must still read the JPEG stream through the header.
    assert np.array_equal(pipeline.decode(stream), dc.decode(stream))


def test_composer_override(chelsea_file, pipeline):
    from discover_roi.paste import Paste

    stream = pipeline.encode(chelsea_file)
    hard = dc.decode(stream, composer=Paste(Paste.Options(feather=0)))
    soft = dc.decode(stream, composer=Paste(Paste.Options(feather=8)))
    assert hard.shape == soft.shape and not np.array_equal(hard, soft)


def test_grey_source_is_recorded(tmp_path, pipeline):
    from skimage import data

    path = tmp_path / "camera.png"
    Image.fromarray(data.camera()).save(path)
    pipe = pipeline.variant(grounder={"missing": "empty"})
    stream = pipe.encode(path)
    assert stream.header.mode == "L"
    assert stream.content_count == 1 and stream.chunks[-1].name == "rest"  # no regions: only the rest
    # The stream still knows its task: the task's part is the side information alone.
    assert stream.header.tasks == ["detection"]
    part = stream.extract(task="detection")
    assert [c.kind for c in part.chunks] == ["side"]
    assert dc.decode(part).shape == (512, 512, 3)


def test_labels_are_asked_once(pipeline):
    assert pipeline.labels is pipeline.labels
    assert len(pipeline.labels) == 80 and "cat" in pipeline.labels


def test_too_wide_for_a_stream_is_a_user_error(pipeline):
    with pytest.raises(dc.InputError, match="at most 65536 pixels a side"):
        pipeline.encode(np.zeros((1, 65537, 3), np.uint8), regions=[])
