"""Perception metrics with the paper's protocol: FID and KID (torchmetrics), LPIPS and DISTS (piq).

CLIC protocol (:func:`clic_view`, :func:`patches`): the shorter side resized to 768, a centre crop of
768x768, then 256x256 patches (9 per image) for FID / KID; LPIPS and DISTS on the 768x768 view.

No weights are downloaded here. Each metric's files are looked for in ``weights_dir`` (if given), the
cache folder (``<cache>/models/perception/``) and torch's hub checkpoint folder; a missing one is a
:class:`~discover_core.errors.WeightsError` naming the file, where to put it and where it comes from.
FID / KID may use a *proxy* feature extractor instead of Inception-v3 (``proxy:mobilenet_v2[@weights]``: the
registered task head :data:`PROXY_HEAD` built on that backbone, whose :meth:`~discover_core.TaskHead.image_features`
pool its last feature map; found through the registry, so the core imports no plugin): every figure computed
with it carries the proxy's name (``fid@proxy:mobilenet_v2``), never the plain ``fid``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, WeightsError
from ..interfaces import Context

CLIC_SIDE = 768
PATCH = 256
INCEPTION = ("weights-inception-2015-12-05-6726825d.pth",
             "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
             "weights-inception-2015-12-05-6726825d.pth")
VGG16 = ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth")
FILES = {
    "lpips": [VGG16, ("lpips_weights.pt", "https://github.com/photosynthesis-team/photosynthesis.metrics/releases/"
                                          "download/v0.4.0/lpips_weights.pt")],
    "dists": [VGG16, ("dists_weights.pt", "https://github.com/photosynthesis-team/piq/releases/download/v0.4.1/"
                                          "dists_weights.pt")],
}
METRICS = ("fid", "kid", "lpips", "dists")
PROXY_HEAD = "imagenet-classifier"
"""The registered task head that provides proxy features (options ``backbone`` and ``weights``)."""


def clic_view(image: np.ndarray, side: int = CLIC_SIDE) -> np.ndarray:
    """The shorter side resized to ``side`` (Lanczos), then the centre ``side`` x ``side`` crop."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / min(h, w)
    nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
    img = Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS) if (nw, nh) != (w, h) else None
    arr = np.asarray(img) if img is not None else image
    x0, y0 = (nw - side) // 2, (nh - side) // 2
    return np.ascontiguousarray(arr[y0:y0 + side, x0:x0 + side])


def patches(view: np.ndarray, size: int = PATCH) -> np.ndarray:
    """Non-overlapping ``size`` x ``size`` patches, row by row: ``(N, size, size, 3)``."""
    h, w = view.shape[:2]
    return np.stack([view[y:y + size, x:x + size] for y in range(0, h - size + 1, size)
                     for x in range(0, w - size + 1, size)])


def find_file(name: str, url: str, context: Context, weights_dir: str | Path | None, what: str) -> Path:
    import torch

    places = ([Path(weights_dir)] if weights_dir else []) + [context.cache_dir / "models" / "perception",
                                                              Path(torch.hub.get_dir()) / "checkpoints"]
    for p in places:
        if (p / name).is_file():
            return p / name
    raise WeightsError(f"{what} needs {name}, which is in none of: {', '.join(str(p) for p in places)} "
                       f"(nothing is downloaded here)",
                       f"copy {url} to {places[0] / name}, or ask for a proxy feature extractor (FID / KID)")


@dataclass
class Features:
    """A feature extractor for FID / KID: Inception-v3 (torch-fidelity weights) or a named proxy."""

    name: str
    """``inception`` or ``proxy:<architecture>``; metric names carry a proxy's name."""

    def __post_init__(self):
        self._model = None

    @property
    def suffix(self) -> str:
        return "" if self.name == "inception" else f"@{self.name}"

    def build(self, context: Context, weights_dir: str | Path | None = None) -> "Features":
        if self.name == "inception":
            from torchmetrics.image.fid import NoTrainInceptionV3

            path = find_file(*INCEPTION, context, weights_dir, "FID / KID with Inception-v3")
            self._model = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                             feature_extractor_weights_path=str(path))
        elif self.name.startswith("proxy:"):
            self._model = proxy_head(self.name, context)
        else:
            raise ConfigError("perception features", [("features", f"'{self.name}': use inception or "
                                                                   "proxy:<ImageNet classifier>, e.g. proxy:mobilenet_v2")])
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, D) float64 features."""
        import torch

        if self.name == "inception":
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
            with torch.no_grad():
                return self._model(x).double().numpy()
        return np.asarray(self._model.image_features(batch), dtype=np.float64)


def proxy_head(name: str, context: Context):
    """The registry's :data:`PROXY_HEAD` on the backbone ``proxy:<backbone>[@weights]`` names, on the CPU."""
    from pydantic import ValidationError

    from ..build import build
    from ..config import _pydantic_problems
    from ..plugins import get_registry

    registry = get_registry()
    reg = registry.get("task_head", PROXY_HEAD)
    arch, _, weights = name[len("proxy:"):].partition("@")
    try:
        options = reg.cls.Options.model_validate({"backbone": arch, "weights": weights or "package", "device": "cpu"})
    except ValidationError as exc:
        raise ConfigError(f"perception features {name}",
                          _pydantic_problems(exc, "", list(reg.cls.Options.model_fields))) from None
    head = build(registry, "task_head", PROXY_HEAD, options, context)
    if not getattr(head, "provides_features", False):
        raise ConfigError("perception features", [("features", f"task head '{PROXY_HEAD}' provides no image "
                                                               "features; use inception")])
    return head


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between two feature sets (torchmetrics' formula)."""
    import torch
    from torchmetrics.image.fid import _compute_fid

    def stats(f):
        t = torch.from_numpy(f).double()
        return t.mean(0), torch.cov(t.T)

    return float(_compute_fid(*stats(real), *stats(fake)))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel inception distance (torchmetrics' polynomial MMD), mean over random subsets."""
    import torch
    from torchmetrics.image.kid import poly_mmd

    n = min(len(real), len(fake), subset_size)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        r = torch.from_numpy(real[rng.choice(len(real), n, replace=False)])
        f = torch.from_numpy(fake[rng.choice(len(fake), n, replace=False)])
        vals.append(float(poly_mmd(r, f, degree=3, gamma=None, coef=1.0)))
    return float(np.mean(vals))


class PairMetric:
    """LPIPS or DISTS (piq) with weights found offline; call with two (H, W, 3) uint8 images."""

    def __init__(self, name: str, context: Context, weights_dir: str | Path | None = None):
        import tempfile

        import piq
        import torch

        if name not in FILES:
            raise ConfigError("perception metrics", [("metrics", f"'{name}' is not one of {', '.join(METRICS)}")])
        found = [find_file(f, url, context, weights_dir, name.upper()) for f, url in FILES[name]]
        hub = Path(tempfile.mkdtemp(prefix="discover-hub-", dir=context.cache("perception-hub")))
        (hub / "checkpoints").mkdir()
        for f in found:
            os.symlink(f.resolve(), hub / "checkpoints" / f.name)
        old = torch.hub.get_dir()
        torch.hub.set_dir(str(hub))
        try:
            self.metric = (piq.LPIPS() if name == "lpips" else piq.DISTS()).eval()
        finally:
            torch.hub.set_dir(old)
        self.name = name

    def __call__(self, reference: np.ndarray, test: np.ndarray) -> float:
        import torch

        def t(a):
            return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255.0

        with torch.no_grad():
            return float(self.metric(t(test), t(reference)))


def dataset_scores(real: Sequence[np.ndarray], fake: Sequence[np.ndarray], features: Features,
                   which: Sequence[str] = ("fid", "kid")) -> dict[str, float]:
    """FID / KID of feature sets (one array per image), named with the extractor's suffix."""
    r, f = np.concatenate(list(real)), np.concatenate(list(fake))
    out = {}
    if "fid" in which and len(r) >= 2:
        out["fid" + features.suffix] = fid(r, f)
    if "kid" in which and len(r) >= 2:
        out["kid" + features.suffix] = kid(r, f, subsets=50, subset_size=min(1000, len(r)))
    return out
