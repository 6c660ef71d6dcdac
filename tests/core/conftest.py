"""Fixtures shared by the core tests: a synthetic image and pipelines built from dicts."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from discover_core import Region
from discover_core.metrics import psnr
from discover_core.pipeline import pipeline_from_dict

BASE_PIPELINE = {
    "schema_version": 2,
    "name": "core-tests",
    "tasks": [{"name": "detection", "description": "animals",
               "label_source": {"plugin": "static", "options": {"labels": ["cat", "dog", "bird"]}}}],
    # Never built: the tests pass regions to encode() themselves.
    "grounders": [{"plugin": "boxes", "options": {"file": "boxes.json"}}],
    "entropy_model": {"plugin": "roi-image", "options": {"codec": "jpeg"}},
    "composer": {"plugin": "paste", "options": {}},
}

BASE_PIPELINE_V1 = {
    "schema_version": 1,
    "name": "core-tests",
    "task": {"name": "detection", "description": "animals"},
    "label_source": {"plugin": "static", "options": {"labels": ["cat", "dog", "bird"]}},
    "grounder": {"plugin": "boxes", "options": {"file": "boxes.json"}},
    "entropy_model": {"plugin": "roi-image", "options": {"codec": "jpeg"}},
    "composer": {"plugin": "paste", "options": {}},
}

# Two overlapping regions (one group) and a separate one, on a 64x48 image.
REGIONS = (
    Region((4.0, 4.0, 20.0, 20.0), "cat"),
    Region((12.0, 10.0, 30.0, 22.0), "dog"),
    Region((40.0, 26.0, 60.0, 44.0), "bird"),
)


def synthetic(width: int = 64, height: int = 48) -> np.ndarray:
    """A deterministic RGB test picture: gradients, a disc, a bar and a checkerboard."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3), np.float64)
    img[..., 0] = 255 * x / max(1, width - 1)
    img[..., 1] = 255 * y / max(1, height - 1)
    img[..., 2] = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    disc = (x - width * 0.3) ** 2 + (y - height * 0.35) ** 2 < (min(width, height) * 0.2) ** 2
    img[disc] = (250, 240, 30)
    img[int(height * 0.7):int(height * 0.8), int(width * 0.1):int(width * 0.5)] = (20, 30, 200)
    checker = ((x // 4 + y // 4) % 2 == 0) & (x > width * 0.6) & (y > height * 0.5)
    img[checker] = (255, 255, 255)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def pipeline_dict(**entropy_options) -> dict:
    d = copy.deepcopy(BASE_PIPELINE)
    d["entropy_model"]["options"].update(entropy_options)
    return d


@pytest.fixture
def image() -> np.ndarray:
    return synthetic()


@pytest.fixture(scope="session")
def synth():
    """``synth(width, height)``: the synthetic picture at any size."""
    return synthetic


@pytest.fixture(scope="session")
def regions() -> tuple[Region, ...]:
    return REGIONS


@pytest.fixture(scope="session")
def psnr_fn():
    return psnr


@pytest.fixture(scope="session")
def make_v1_dict():
    """``make_v1_dict(**entropy_options)``: the same pipeline as a schema 1 mapping."""
    def make(**entropy_options):
        d = copy.deepcopy(BASE_PIPELINE_V1)
        d["entropy_model"]["options"].update(entropy_options)
        return d
    return make


@pytest.fixture(scope="session")
def make_dict():
    """``make_dict(**entropy_options)``: a valid pipeline mapping (roi-image + paste)."""
    return pipeline_dict


@pytest.fixture
def make_pipeline():
    def make(**entropy_options):
        return pipeline_from_dict(pipeline_dict(**entropy_options))
    return make


@pytest.fixture(scope="session")
def jpeg_stream():
    """The synthetic image coded with JPEG: a background side chunk, 2 region chunks and a rest chunk."""
    p = pipeline_from_dict(pipeline_dict(codec="jpeg", align=4))
    return p.encode(synthetic(), regions=REGIONS)
