"""A tiny SD base and ControlNets built from configs, saved to a temporary folder and loaded back by path."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the controlnet composer needs the extra 'diffusion'")
pytest.importorskip("transformers", reason="the controlnet composer needs the extra 'diffusion'")

from discover_core.interfaces import Context  # noqa: E402


@pytest.fixture(scope="session")
def diffusion_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("diffusion")


@pytest.fixture(scope="session")
def tiny_base(diffusion_dir):
    """Folder of a tiny SD base (diffusers layout) written by save_pretrained."""
    from discover_diffusion.tiny import save_tiny_base

    return save_tiny_base(diffusion_dir / "base")


@pytest.fixture(scope="session")
def trained_controlnet(diffusion_dir, tiny_base):
    """A saved ControlNet whose zero convolutions hold random weights, so its condition matters."""
    from discover_diffusion.tiny import save_tiny_controlnet

    return save_tiny_controlnet(diffusion_dir / "controlnet", tiny_base, channels=8, perturb=0.2)


@pytest.fixture(scope="session")
def context(diffusion_dir):
    return Context(cache_dir=diffusion_dir / "cache")


@pytest.fixture(scope="session")
def make(tiny_base, context):
    """``make(**options)``: a controlnet composer on the tiny base (models shared within the process)."""
    from discover_diffusion.composer import ControlNetComposer

    def make(**options):
        opts = {"base": str(tiny_base), "steps": 4, **options}
        return ControlNetComposer(ControlNetComposer.Options.model_validate(opts), context)

    return make
