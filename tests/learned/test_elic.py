"""``elic``: channel groups and a checkerboard context restricted to each chunk, coded chunk by chunk."""

from __future__ import annotations

import itertools

import pytest
import torch

from discover_core.errors import ConfigError
from discover_core.testing import EntropyModelContract

from discover_learned.component import Elic
from discover_learned.elic_net import ChunkConv, default_groups
from discover_learned.layout import chunk_map, grid_size, plan_chunks

SIZE = (256, 192)
TINY = {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 8}


@pytest.fixture(scope="module")
def elic():
    model = Elic(Elic.Options(**TINY, seed=2))
    with torch.no_grad():  # wide Gaussians, so every chunk carries real information
        for gp in model.net.group_parameters:
            gp.aggregate[-1].bias[: gp.aggregate[-1].out_channels // 2] += 3.0
    return model


def own_draw(model, image, regions, seed=0):
    """``(y, z)``: y drawn (already on the integer grid around the means) from the model's own Gaussians,
    pass by pass, so the coder sees exactly the distribution it models."""
    g = torch.Generator().manual_seed(seed)
    coder = model.latent_coder
    with torch.no_grad():
        y0 = model.analyse(image)
        z = model.net.h_a(y0)
        _, z_hat = coder.encode_side(y0, z)
        hyper = model.net.h_s(z_hat)
        plans = plan_chunks(regions, image.shape[1], image.shape[0])
        cmap = coder._ids(chunk_map([(p.name, p.cells) for p in plans], grid_size(image.shape[1], image.shape[0])))

        def decide(k, phase, scales, means, flat):
            noise = torch.randn(scales.shape, generator=g)
            return (means + torch.round(noise * scales.clamp(min=0.11)))[:, flat]

        y = coder._passes(hyper, cmap, decide)
    return y, z


def test_default_groups_sum_to_m():
    for m in (16, 64, 96, 192, 320):
        g = default_groups(m)
        assert sum(g) == m and all(c > 0 for c in g)
    assert default_groups(320) == (16, 16, 32, 64, 192)


def test_chunk_conv_sees_only_its_own_chunk():
    conv = ChunkConv(3, 4)
    x = torch.randn(1, 3, 8, 8)
    ids = torch.zeros(1, 1, 8, 8)
    ids[..., 4:] = 1
    out = conv(x, ids)
    x2 = x.clone()
    x2[..., 4:] = torch.randn(1, 3, 8, 4)  # change chunk 1 only
    out2 = conv(x2, ids)
    assert torch.equal(out[..., :4], out2[..., :4]), "chunk 0 must not see chunk 1"
    one = torch.zeros(1, 1, 8, 8)
    assert torch.allclose(conv(x, one), conv.conv(x), atol=1e-5), "one chunk: an ordinary convolution"


def test_every_subset_decodes_and_arrived_positions_are_exact(elic, image, regions):
    y, z = own_draw(elic, image, regions)
    encoded = elic.encode_latent(y, *SIZE, regions, z=z)
    content = [c for c in encoded.chunks if c.kind == "content"]
    assert len(content) == 4
    full, _, arrived = elic.decode_latent(SIZE, encoded.params, encoded.chunks)
    assert arrived.all() and torch.equal(full, y), "the full decode is the coded latent"
    for k in range(len(content) + 1):
        for sub in itertools.combinations(content, k):
            y_hat, _, arrived = elic.decode_latent(SIZE, encoded.params, encoded.chunks[:1] + list(sub))
            a = torch.from_numpy(arrived)
            assert torch.equal(y_hat[0][:, a], full[0][:, a]), [c.name for c in sub]


def test_bytes_match_the_estimate(elic, image, regions):
    y, z = own_draw(elic, image, regions, seed=1)
    encoded = elic.encode_latent(y, *SIZE, regions, z=z)
    estimate = elic.estimate_bits(y, *SIZE, regions, z=z)
    for c in encoded.chunks:
        est = estimate[c.name] / 8
        assert est > 100
        assert abs(len(c.payload) - est) <= 0.01 * est + 8, (c.name, len(c.payload), est)


def test_groups_must_sum_to_m():
    with pytest.raises(ConfigError, match="groups"):
        Elic(Elic.Options(**TINY, groups=(4, 4)))


def test_a_few_training_steps_lower_the_loss(tmp_path):
    from discover_core.testing import samples
    from discover_learned.training.trainer import Trainer
    from PIL import Image

    d = tmp_path / "img"
    d.mkdir()
    Image.fromarray(samples.sample_image(128, 128)).save(d / "a.png")
    trainer = Trainer(Elic, Elic.Options(**TINY), {"output": str(tmp_path / "run"), "steps": 30, "batch_size": 2,
                                                    "lr": 1e-3, "data": {"folder": str(d), "crop": 64}},
                      __import__("discover_core").interfaces.Context())
    losses = []
    (path,) = trainer.run(lambda s, t, m: losses.append(m["loss"]))
    assert sum(losses[-6:]) < 0.7 * sum(losses[:6])
    assert Elic(Elic.Options(checkpoint=str(path))).net.groups == default_groups(16)


class TestElicContract(EntropyModelContract):
    component_class = Elic
    options = {**TINY, "seed": 4}
