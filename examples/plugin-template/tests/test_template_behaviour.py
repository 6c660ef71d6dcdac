"""What the template components do, beyond the contract; and a whole pipeline made of them.

Uses the fixtures of discover's pytest plugin (``sample_image``,
``sample_regions``, ``discover_registry``), which pytest loads automatically.
"""

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from discover_core import Context, Decoded, ImageMeta, Patch, Region, TaskSpec, pipeline_from_dict
from discover_core.errors import PayloadError
from discover_template import TemplateBrightness, TemplateCentre, TemplateNearest, TemplatePng, TemplateWords
from discover_template.composer import upsample_nearest


def test_words_are_normalised_and_deduplicated():
    source = TemplateWords(TemplateWords.Options(words=("Cat", "  traffic   Light", "cat", "", "DOG")))
    assert source.labels(TaskSpec("detection")) == ["cat", "traffic light", "dog"]
    with_task = TemplateWords(TemplateWords.Options(words=("cat",), include_task=True))
    assert with_task.labels(TaskSpec("Detection")) == ["cat", "detection"]
    with pytest.raises(ValidationError):
        TemplateWords.Options(words=(" ", ""))
    # known without building anything (``discover validate`` uses it), unless the task's name is added
    assert TemplateWords.known_labels(TemplateWords.Options(words=("Cat", "cat")), Context()) == ["cat"]
    assert TemplateWords.known_labels(with_task.options, Context()) is None


def test_centre_box_geometry(sample_image, sample_meta):
    (region,) = TemplateCentre(TemplateCentre.Options(fraction=0.5, score=0.3)).ground(
        sample_image, ["", "Cat", "dog"], sample_meta)
    assert region == Region((24.0, 16.0, 72.0, 48.0), "Cat", 0.3)
    assert TemplateCentre().ground(sample_image, [" "], sample_meta) == []


def test_png_regions_are_lossless_and_the_rest_is_coarse(sample_image, sample_regions):
    model, composer = TemplatePng(), TemplateNearest()
    encoded = model.encode(sample_image, sample_regions)
    assert [c.kind for c in encoded.chunks] == ["side"] + ["content"] * len(sample_regions)
    decoded = model.decode((96, 64), encoded.params, encoded.chunks, TemplatePng.format_version)
    full = composer.compose(decoded)
    for r in sample_regions:
        x0, y0, x1, y1 = r.int_box(96, 64)
        assert np.array_equal(full[y0:y1, x0:x1], sample_image[y0:y1, x0:x1])
    # outside the regions nothing but the coarse side chunk arrived; with it alone, nothing else did
    inside = np.zeros((64, 96), bool)
    for c in encoded.chunks[1:]:
        x0, y0, x1, y1 = c.boxes[0]
        inside[y0:y1, x0:x1] = True
    assert np.array_equal(decoded.missing, ~inside)
    side = model.decode((96, 64), encoded.params, encoded.chunks[:1], TemplatePng.format_version)
    assert side.missing.all()
    side_only = composer.compose(side)
    assert not np.array_equal(side_only, sample_image)
    assert np.abs(side_only.astype(int) - sample_image).mean() < 40  # but close: it is the picture, coarse


def test_png_refuses_a_payload_of_the_wrong_size(sample_image, sample_regions):
    model = TemplatePng()
    encoded = model.encode(sample_image, sample_regions)
    with pytest.raises(PayloadError, match="expected 5x5"):
        model.decode((96, 64), {"coarse_size": [5, 5]}, encoded.chunks, 1)
    with pytest.raises(PayloadError, match="not a readable PNG"):
        model.decode((96, 64), encoded.params, [encoded.chunks[0], replace(encoded.chunks[1], payload=b"junk")], 1)


def test_nearest_upsampling_and_masked_patches():
    coarse = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    up = upsample_nearest(coarse, 4, 4)
    assert np.array_equal(up[:2, :2], np.broadcast_to(coarse[0, 0], (2, 2, 3)))
    mask = np.array([[True, False]])
    patch = Patch((1, 1, 3, 2), np.full((1, 2, 3), 255, np.uint8), (), mask)
    out = TemplateNearest(TemplateNearest.Options(fill=(9, 9, 9))).compose(Decoded(size=(4, 3), patches=[patch]))
    assert out[1, 1].tolist() == [255, 255, 255] and out[1, 2].tolist() == [9, 9, 9]


def test_brightness_buckets_and_scores():
    head = TemplateBrightness(TemplateBrightness.Options(buckets=4))
    dark, bright = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    assert head.predict(dark) == {"bucket": 0, "mean": 0.0}
    assert head.predict(bright)["bucket"] == 3
    preds = [head.predict(dark), head.predict(bright)]
    assert head.score(preds, references=preds[::-1])["agreement"] == 0.0
    assert head.score(preds, targets=[0, 2]) == {"accuracy": 0.5}
    with pytest.raises(ValueError):
        head.score(preds)


def test_a_pipeline_of_template_components(sample_image, discover_registry):
    pipeline = pipeline_from_dict({
        "schema_version": 2,
        "tasks": [{"name": "centre", "description": "whatever is in the middle",
                   "label_source": {"plugin": "template-words", "options": {"words": ["Subject"]}},
                   "task_heads": [{"plugin": "template-brightness"}]}],
        "grounders": [{"plugin": "template-centre", "options": {"fraction": 0.5}}],
        "entropy_model": {"plugin": "template-png", "options": {"scale": 0.125}},
        "composer": {"plugin": "template-nearest"},
    }, registry=discover_registry)
    stream = pipeline.encode(sample_image, ImageMeta("sample.png"))
    part = stream.extract(task="centre")
    assert part.header.labels == ["subject"] and part.content_count == 1
    picture = pipeline.decode(part.to_bytes())
    assert np.array_equal(picture[16:48, 24:72], sample_image[16:48, 24:72])
    (head,) = pipeline.task_heads
    assert head.score([head.predict(picture)], references=[head.predict(sample_image)])["agreement"] == 1.0
