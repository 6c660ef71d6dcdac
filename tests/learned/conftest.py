"""Tiny learned codecs (random initial weights from a seed) and latents drawn from their own Gaussians."""

from __future__ import annotations

import pytest

pytest.importorskip("compressai", reason="the learned codecs need the extra 'learned'")

from discover_core.testing import samples  # noqa: E402

TINY = {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 8}
SIZE = (256, 192)
"""An image with three region groups that do not share latent positions, plus the rest."""


def build(cls=None, **options):
    from discover_learned.component import Hyperprior

    cls = cls or Hyperprior
    return cls(cls.Options.model_validate({**TINY, **options}))


@pytest.fixture(scope="package")
def tiny():
    return build()


@pytest.fixture(scope="package")
def image():
    return samples.sample_image(*SIZE)


@pytest.fixture(scope="package")
def regions():
    """The sample's objects, boxes snapped so that the three groups share no latent position."""
    from discover_core.interfaces import Region

    return [Region((16, 16, 96, 96), "square"), Region((150, 10, 240, 100), "disc"),
            Region((30, 130, 225, 180), "stripes")]


def drawn_latent(model, image, seed: int = 0, scale_floor: float = 1.5):
    """``(y, z)``: a latent drawn from the Gaussians that ``ẑ = Q(h_a(g_a(image)))`` predicts (a random-init
    ŷ is near zero, so it would test almost nothing). Scales are raised to at least ``scale_floor`` by
    shifting the model's own prediction, so every chunk carries real information."""
    import torch

    with torch.no_grad():
        y0 = model.analyse(image)
        z = model.net.h_a(y0)
        _, z_hat = model.latent_coder.encode_side(y0, z)
        scales, means = model.latent_coder.parameters(z_hat)
        g = torch.Generator().manual_seed(seed)
        scales = scales.clamp(min=scale_floor)
        y = means + scales * torch.randn(means.shape, generator=g)
    return y, z


@pytest.fixture
def size():
    return SIZE


@pytest.fixture
def draw():
    """``draw(model, image, seed=0, scale_floor=1.5) -> (y, z)``: see :func:`drawn_latent`."""
    return drawn_latent


@pytest.fixture
def build_model():
    """``build_model(cls=None, **options)``: a tiny codec (random initial weights from ``seed``)."""
    return build


@pytest.fixture(scope="package")
def tiny_vae(tmp_path_factory):
    """A tiny diffusers AutoencoderKL (4 blocks: stride 8, 4 latent channels), saved and loaded by path."""
    diffusers = pytest.importorskip("diffusers")
    import torch

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                                  up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16),
                                  layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=64)
    folder = tmp_path_factory.mktemp("tiny-vae")
    vae.save_pretrained(folder)
    return folder
