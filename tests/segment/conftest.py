"""Fixtures for the segment plugin tests: the demo photos and the real models (fetched by scripts/setup.sh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut", "grace_hopper", "chelsea", "coffee", "stereo_motorcycle")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """The photos of the port check, loaded the way the demo loads them."""
    from discover_core.photos import demo_photos

    return {Path(p.name).stem: p.image for p in demo_photos([*PHOTOS, "rocket"])}


@pytest.fixture(scope="session")
def segmenters():
    """The real selfie and meet segmenters on the CPU. Missing files are an error with the fix, never a skip."""
    import torch

    from discover_core.interfaces import Context
    from discover_segment.fetch import FILES, model_json
    from discover_segment.model import load

    return {m: load(model_json(m, None, Context()), torch.device("cpu"), fetch=m) for m in FILES}
