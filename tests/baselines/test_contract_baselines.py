"""The whole entropy-model contract for every baseline (jpeg, webp, avif, hevc-intra, vtm, compressai)."""

import os
import stat
import sys

import pytest

from discover_core.testing import EntropyModelContract
from discover_baselines import Avif, CompressaiZoo, HevcIntra, Jpeg, Vtm, Webp

from test_baselines import FAKE


class WholeImage:
    """Whole-image codecs code no region apart: instead of tagging region labels on content chunks, every part
    of the stream is the whole picture."""

    def test_region_labels_are_tagged(self, component, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        assert [c.kind for c in encoded.chunks] == ["side"]
        h, w = encode_image.shape[:2]
        decoded = component.decode((w, h), encoded.params, encoded.chunks, component.format_version)
        assert decoded.missing is None and decoded.coarse.shape == encode_image.shape


class TestJpeg(WholeImage, EntropyModelContract):
    component_class = Jpeg
    options = {"quality": 70}


class TestWebp(WholeImage, EntropyModelContract):
    component_class = Webp
    options = {"quality": 70}


class TestAvif(WholeImage, EntropyModelContract):
    component_class = Avif
    options = {"quality": 60, "speed": 8}


class TestHevcIntra(WholeImage, EntropyModelContract):
    component_class = HevcIntra
    options = {"quality": 60}


@pytest.fixture(scope="module")
def stand_in_vtm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vtm-bin")
    for name, src, dst in (("EncoderApp", "-i", "-b"), ("DecoderApp", "-b", "-o")):
        f = folder / name
        f.write_text(FAKE.format(python=sys.executable, src=src, dst=dst))
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return folder


class TestVtm(WholeImage, EntropyModelContract):
    """With stand-in binaries that copy the YUV file through (no VTM here): the plumbing, not VVC."""

    component_class = Vtm
    options = {"qp": 30}

    @pytest.fixture(autouse=True)
    def on_path(self, stand_in_vtm, monkeypatch):
        monkeypatch.setenv("PATH", f"{stand_in_vtm}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture(scope="module")
def zoo_weights(tmp_path_factory):
    import torch
    from compressai.zoo import models

    torch.manual_seed(0)
    net = models["bmshj2018-factorized"](quality=1, pretrained=False)
    net.update(force=True)
    path = tmp_path_factory.mktemp("zoo") / "bmshj2018-factorized-1.pth"
    torch.save(net.state_dict(), path)
    return path


class TestCompressai(WholeImage, EntropyModelContract):
    component_class = CompressaiZoo

    @pytest.fixture
    def options_dict(self, zoo_weights):
        return {"model": "bmshj2018-factorized", "quality": 1, "weights": str(zoo_weights)}
