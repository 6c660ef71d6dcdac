"""The shipped composer contract suite, on the tiny base with synthetic sd-vae latent decodes."""

from __future__ import annotations

import pytest

from discover_core.testing import ComposerContract

from diffusion_samples import synthetic_latent_decodes


class TestControlNetContract(ComposerContract):
    @pytest.fixture
    def component_cls(self):
        from discover_diffusion.composer import ControlNetComposer

        return ControlNetComposer

    @pytest.fixture
    def options_dict(self, tiny_base, trained_controlnet):
        return {"base": str(tiny_base), "controlnet": str(trained_controlnet), "steps": 2, "batch_size": 3}

    @pytest.fixture
    def decoded_samples(self):
        return synthetic_latent_decodes()
