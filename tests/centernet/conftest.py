"""Fixtures for the centernet plugin tests: the demo photos and the real model (fetched by scripts/setup.sh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut", "chelsea", "coffee", "stereo_motorcycle", "grace_hopper")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """The photos of the port check, loaded the way the demo loads them."""
    from discover_core.demo import demo_photos

    return {Path(p.name).stem: p.image for p in demo_photos(list(PHOTOS))}


@pytest.fixture(scope="session")
def centernet():
    """The real CenterNet on the CPU. Missing files are an error with the fix, never a skip."""
    import torch

    from discover_core.interfaces import Context
    from discover_centernet.fetch import model_json
    from discover_centernet.model import load

    return load(model_json(None, Context()), torch.device("cpu"))
