"""The controlnet composer on real decodes of the learned codec's sd-latent target (tiny, initial weights)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from discover_core.testing import ComposerOptionsContract, samples

pytest.importorskip("compressai", reason="the learned codec needs the extra 'learned'")

TINY_CODEC = {"checkpoint": None, "target": "sd-latent", "channels": 16, "latent_channels": 16,
              "global_channels": 8}


def codec():
    from discover_learned.component import Hyperprior

    return Hyperprior(Hyperprior.Options.model_validate(TINY_CODEC))


class TestOnLearnedDecodes(ComposerOptionsContract):
    """The option-dependent half of the composer contract, on the codec's own full and partial decodes."""

    @pytest.fixture
    def component_cls(self):
        from discover_diffusion.composer import ControlNetComposer

        return ControlNetComposer

    @pytest.fixture
    def options_dict(self, tiny_base, trained_controlnet):
        return {"base": str(tiny_base), "controlnet": str(trained_controlnet), "steps": 2}

    @property
    def entropy_model_class(self):
        from discover_learned.component import Hyperprior

        return Hyperprior

    entropy_model_options = TINY_CODEC


def test_full_and_partial_streams(make, trained_controlnet):
    """Where a chunk arrived the composed latent is the codec's; the picture keeps those regions."""
    from discover_diffusion.sampling import plain_decode

    model = codec()
    size = (128, 96)
    image, regions = samples.sample_image(*size), samples.sample_regions(*size)
    enc = model.encode(image, regions)
    side = [c for c in enc.chunks if c.kind == "side"]
    content = [c for c in enc.chunks if c.kind == "content"]
    comp = make(controlnet=str(trained_controlnet), paste_pixels=True)
    full = model.decode(size, enc.params, enc.chunks, model.format_version)
    part = model.decode(size, enc.params, side + content[:1], model.format_version)
    assert full.latent.space == "sd-vae" and full.latent.arrived.all() and not part.latent.arrived.all()
    for decoded in (full, part, model.decode(size, enc.params, side, model.format_version)):
        picture = comp.compose(dataclasses.replace(decoded, labels=tuple(content[0].labels)))
        assert picture.shape == (96, 128, 3)
        w, h = size
        inside = np.repeat(np.repeat(decoded.latent.arrived, 8, 0), 8, 1)[:h, :w]
        reference = plain_decode(comp.models, decoded.latent.values)
        assert np.array_equal(picture[inside], reference[inside])
