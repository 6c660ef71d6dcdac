"""The shipped offline model (checkpoint: builtin) does real work, and the example pipeline runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from discover_core.testing.samples import psnr

pytest.importorskip("skimage", reason="the demo photos come with the demo extra")
EXAMPLE = Path(__file__).parents[2] / "examples" / "pipelines" / "learned-hyperprior.yaml"


@pytest.fixture(scope="module")
def builtin():
    from discover_learned.component import Hyperprior

    return Hyperprior()


@pytest.fixture(scope="module")
def chelsea():
    from discover_core.photos import demo_photos

    return demo_photos(["chelsea"])[0]


def test_builtin_is_small_and_fingerprinted(builtin):
    from discover_learned.checkpoint import BUILTIN

    files = sorted(BUILTIN.glob("*.safetensors"))
    assert files and sum(f.stat().st_size for f in files) < 6_000_000
    assert builtin.net.arch.target == "pixels"
    assert builtin.weights_fingerprint().startswith("sha256:")


def test_builtin_codes_a_held_out_photo(builtin, chelsea):
    """chelsea was never trained on; the figures against JPEG and AVIF are in benchmarks/bench_learned.py."""
    img = chelsea.image
    h, w = img.shape[:2]
    enc = builtin.encode(img, [])
    bpp = 8 * sum(len(c.payload) for c in enc.chunks) / (w * h)
    out = builtin.decode((w, h), enc.params, enc.chunks, builtin.format_version).coarse
    assert bpp < 0.6 and psnr(out, img) > 24.0, (bpp, psnr(out, img))


def test_example_pipeline_sends_the_task_part(chelsea):
    import discover_core as dc

    pipeline = dc.load_pipeline(EXAMPLE)
    stream = pipeline.encode(chelsea.image, dc.ImageMeta(name="chelsea.png"))
    part = stream.extract(task="detection")
    assert {c.name for c in part.chunks} == {"hyperprior", "region-0"}
    assert len(part.to_bytes()) < len(stream.to_bytes())
    img = chelsea.image
    picture = pipeline.decode(part)
    x0, y0, x1, y1 = (int(v) for v in chelsea.subject_boxes[0])
    inside = np.zeros(img.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    assert psnr(picture, img, inside) > psnr(picture, img, ~inside) + 1, "the region arrived, the rest did not"
