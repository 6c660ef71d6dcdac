"""The coded bytes match the model's estimated rate (sum of −log2 likelihoods) on every chunk."""

from __future__ import annotations

import pytest

from discover_core.interfaces import Region
from discover_core.testing import samples

HEADER_BYTES = 8
"""What a rANS string costs beyond its symbols: the flushed coder state."""


def _wide_model(build_model, shift):
    import torch

    model = build_model(seed=3)
    with torch.no_grad():  # wider Gaussians, so every chunk carries real information
        model.net.h_s[-1].bias[:model.net.arch.latent_channels] += shift
    return model


def _check(model, image, regions, draw, min_bytes):
    h, w = image.shape[:2]
    y, z = draw(model, image, seed=1, scale_floor=0.0)  # exactly the model's own Gaussians
    encoded = model.encode_latent(y, w, h, regions, z=z)
    estimate = model.estimate_bits(y, w, h, regions, z=z)
    actual = {c.name: len(c.payload) for c in encoded.chunks}
    assert set(actual) == set(estimate)
    for name, n in actual.items():
        est = estimate[name] / 8
        if name != "hyperprior":
            assert est > min_bytes, f"chunk {name} carries only {est:.0f} bytes: the test would prove little"
        assert abs(n - est) <= 0.01 * est + HEADER_BYTES, f"chunk {name}: {n} bytes, estimated {est:.1f}"
    total, est_total = sum(actual.values()), sum(estimate.values()) / 8
    assert abs(total - est_total) <= 0.01 * est_total + HEADER_BYTES * len(actual), (total, est_total)


@pytest.mark.parametrize("shift", [2.0, 5.0])
def test_bytes_match_the_estimate_on_every_chunk(build_model, image, regions, draw, shift):
    _check(_wide_model(build_model, shift), image, regions, draw, min_bytes=100)


def test_bytes_match_the_estimate_on_large_chunks(build_model, draw):
    """Chunks of several kilobytes, where the 1 % dominates the fixed header."""
    image = samples.sample_image(768, 512)
    regions = [Region((32, 32, 400, 300), "a"), Region((480, 40, 760, 500), "b")]
    _check(_wide_model(build_model, 4.0), image, regions, draw, min_bytes=1500)


@pytest.mark.parametrize("name", ["hyperprior", "elic"])
def test_coder_table_estimate_matches_with_escapes(build_model, image, regions, draw, name):
    """Latents wider than the model's Gaussians (many values outside the tables, bypass-coded): the
    estimate from the coder's own quantised tables still matches the bytes."""
    from discover_learned.component import Elic, Hyperprior

    model = build_model(Hyperprior if name == "hyperprior" else Elic, seed=3)
    h, w = image.shape[:2]
    y, z = draw(model, image, seed=2, scale_floor=4.0)
    encoded = model.encode_latent(y, w, h, regions, z=z)
    exact = model.estimate_bits(y, w, h, regions, z=z, exact=True)
    for c in encoded.chunks:
        est = exact[c.name] / 8
        assert abs(len(c.payload) - est) <= 0.01 * est + HEADER_BYTES, (c.name, len(c.payload), est)
