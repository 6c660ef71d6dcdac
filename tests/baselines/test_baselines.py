import os
import stat
import sys

import numpy as np
import pytest

from discover_core.errors import ExtraMissingError, StreamError, WeightsError
from discover_core.metrics import psnr
from discover_core.pipeline import pipeline_from_dict


def _image(w=96, h=72):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h)], -1).astype(np.uint8)


def _pipeline(em: dict, tmp_path=None):
    return pipeline_from_dict({
        "schema_version": 2,
        "tasks": [{"name": "t", "label_source": {"plugin": "static", "options": {"labels": ["thing"]}}}],
        "grounders": [{"plugin": "boxes", "options": {"file": "none.json", "missing": "empty"}}],
        "entropy_model": em, "composer": {"plugin": "paste", "options": {}}}, base_dir=tmp_path)


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "hevc-intra"])
def test_whole_image_baselines_code_the_picture_in_one_side_chunk(name):
    image = _image()
    sizes, pictures = [], []
    for q in (20, 90):
        p = _pipeline({"plugin": name, "options": {"quality": q}})
        stream = p.encode(image, regions=[])
        assert [(c.kind, c.name) for c in stream.chunks] == [("side", "image")]
        part = stream.extract(task="t")
        assert [c.payload for c in part.chunks] == [c.payload for c in stream.chunks]
        picture = p.decode(stream)
        assert np.array_equal(picture, p.decode(part))
        sizes.append(len(stream.chunks[0].payload))
        pictures.append(picture)
    assert sizes[0] < sizes[1]
    assert psnr(image, pictures[1]) > 30 and psnr(image, pictures[1]) > psnr(image, pictures[0])


@pytest.mark.parametrize("name", ["jpeg", "hevc-intra"])
def test_a_damaged_payload_is_a_stream_error(name):
    from discover_core.bitstream import Stream
    from discover_core.interfaces import Chunk

    p = _pipeline({"plugin": name, "options": {"quality": 50}})
    stream = p.encode(_image(), regions=[])
    bad = Stream(stream.header, [Chunk("side", "image", stream.chunks[0].payload[:40])], stream.version)
    with pytest.raises(StreamError):
        p.decode(bad.to_bytes())


@pytest.mark.parametrize("model", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018"])
def test_compressai_zoo_model_from_a_weights_file(tmp_path, model):
    import torch
    from compressai.zoo import models

    torch.manual_seed(0)
    net = models[model](quality=1, pretrained=False)
    net.update(force=True)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    em = {"plugin": "compressai", "options": {"model": model, "quality": 1, "weights": "w.pth"}}
    p = _pipeline(em, tmp_path)
    image = _image(70, 50)
    stream = p.encode(image, regions=[])
    assert stream.header.entropy_model.weights.startswith("sha256:")
    assert "weights" not in stream.header.entropy_model.options
    picture = p.decode(stream.to_bytes())
    assert picture.shape == image.shape
    assert stream.to_bytes() == p.encode(image, regions=[]).to_bytes()  # deterministic
    with pytest.raises(WeightsError, match="missing.pth"):
        _pipeline({**em, "options": {**em["options"], "weights": "missing.pth"}}, tmp_path).entropy_model
    with pytest.raises(WeightsError, match="does not fit"):
        _pipeline({**em, "options": {**em["options"], "quality": 8}}, tmp_path).entropy_model


def test_vtm_without_its_binaries_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExtraMissingError, match="EncoderApp and DecoderApp.*not on PATH"):
        _pipeline({"plugin": "vtm", "options": {"qp": 32}}).entropy_model


FAKE = """#!{python}
import shutil, sys
a = sys.argv[1:]
src = a[a.index("{src}") + 1]
dst = a[a.index("{dst}") + 1]
shutil.copy(src, dst)
"""


def test_vtm_plumbing_with_stand_in_binaries(monkeypatch, tmp_path):
    for name, src, dst in (("EncoderApp", "-i", "-b"), ("DecoderApp", "-b", "-o")):
        f = tmp_path / name
        f.write_text(FAKE.format(python=sys.executable, src=src, dst=dst))
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    p = _pipeline({"plugin": "vtm", "options": {"qp": 30}})  # other options than above: built afresh
    image = _image(95, 71)  # odd sides: padded for 4:2:0, cropped back
    picture = p.decode(p.encode(image, regions=[]))
    assert picture.shape == image.shape and psnr(image, picture) > 28  # colour conversion + 4:2:0 only
