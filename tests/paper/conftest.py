"""The paper pipeline's assets, small and offline, built once per session where a user puts the real ones."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the paper pipeline needs the extra 'diffusion'")
pytest.importorskip("compressai", reason="the paper pipeline needs the extra 'learned'")
pytest.importorskip("transformers", reason="the paper pipeline needs the extra 'opensets'")

sys.path.insert(0, str(Path(__file__).parent))
import paper_assets  # noqa: E402


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    """Folders: cache (hub copies of the tiny Grounding DINO and SD base), torch (the heads' files), data."""
    root = tmp_path_factory.mktemp("paper")
    paper_assets.models(root / "cache", root / "torch")
    return {"root": root, "cache": root / "cache", "torch": root / "torch",
            "data": paper_assets.datasets(root / "data"), "bin": paper_assets.vtm_standins(root / "bin")}


@pytest.fixture
def paper_env(assets, monkeypatch):
    """The environment in which the paper pipeline finds the assets (no network: HF_HUB_OFFLINE=1), with a
    stand-in OpenAI server answering Algorithm 1; returns the server (its ``.requests`` are counted)."""
    with paper_assets.openai_server() as server:
        for k, v in paper_assets.environment(assets["cache"], assets["torch"], server.base_url).items():
            monkeypatch.setenv(k, v)
        yield server


@pytest.fixture
def fast_rcnn(monkeypatch):
    """Faster / Mask R-CNN with 20 proposals per image instead of 1000 (the heads' cost on a CPU; the
    architectures, their weights files and the plugins' code paths are unchanged)."""
    import torchvision.models.detection as tvd

    for name in ("fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn"):
        monkeypatch.setattr(tvd, name, functools.partial(getattr(tvd, name), rpn_pre_nms_top_n_test=50,
                                                         rpn_post_nms_top_n_test=20))


@pytest.fixture
def one_thread():
    """torch on one thread: on a busy machine two OpenMP threads that spin-wait for each other are many times
    slower than one (mobilenet features here: 3 s with two threads, 0.1 s with one, under a load of 5)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
