"""Training images: an image folder, or the photos that install with registry packages; random crops."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from discover_core.errors import ConfigError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
HELD_OUT = ("astronaut", "chelsea", "cat", "coffee", "rocket", "motorcycle", "grace_hopper")
"""The demo photos: never trained on, kept for evaluation."""


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    return np.ascontiguousarray(a[..., :3])


def sample_photos(exclude: Sequence[str] = HELD_OUT) -> dict[str, np.ndarray]:
    """Photos from scikit-image's data module, matplotlib's sample data and scikit-learn's sample images
    (those installed), minus ``exclude``."""
    out: dict[str, np.ndarray] = {}
    try:
        import skimage.data as d

        for name in ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "colorwheel", "grass",
                     "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina",
                     "rocket", "text", "clock", "cell"):
            try:
                out[name] = _rgb(getattr(d, name)())
            except Exception:  # a photo this scikit-image version lacks or would download
                continue
        try:
            out["motorcycle"] = _rgb(d.stereo_motorcycle()[0])
        except Exception:
            pass
    except ImportError:
        pass
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "sample_data"
        for f in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
            if (folder / f).is_file():
                out[Path(f).stem] = _rgb(np.asarray(Image.open(folder / f).convert("RGB")))
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images

        s = load_sample_images()
        for fname, img in zip(s.filenames, s.images):
            out[Path(fname).stem] = _rgb(img)
    except ImportError:
        pass
    drop = {e.casefold() for e in exclude}
    return {k: v for k, v in out.items() if k.casefold() not in drop}


def folder_images(folder: Path) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise ConfigError("training config", [("training.data.folder", f"no images ({', '.join(SUFFIXES)}) "
                                                                       f"under {folder}")])
    return files


def random_crop(img: np.ndarray, size: int, rng: random.Random, scale: tuple[float, float] = (1.0, 1.0),
                shuffle_channels: bool = False) -> np.ndarray:
    """A ``size``² crop of ``img`` resized by a random factor in ``scale`` (never below ``size``), flipped
    horizontally half the time, and with its colour channels in a random order if ``shuffle_channels``."""
    h, w = img.shape[:2]
    s = max(rng.uniform(*scale), size / min(h, w))
    if s != 1.0:
        img = np.asarray(Image.fromarray(img).resize((max(size, round(w * s)), max(size, round(h * s))),
                                                      Image.Resampling.BICUBIC))
        h, w = img.shape[:2]
    y, x = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
    crop = img[y:y + size, x:x + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if shuffle_channels:
        order = [0, 1, 2]
        rng.shuffle(order)
        crop = crop[..., order]
    return crop


class Crops(torch.utils.data.IterableDataset):
    """Endless random crops (with horizontal flips, random rescaling within ``scale`` and optionally shuffled
    colour channels) of in-memory photos or of an image folder."""

    def __init__(self, source: dict[str, np.ndarray] | list[Path], size: int, seed: int,
                 scale: tuple[float, float] = (1.0, 1.0), shuffle_channels: bool = False):
        self.source, self.size, self.seed = source, size, seed
        self.scale, self.shuffle_channels = scale, shuffle_channels

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        items = list(self.source.values()) if isinstance(self.source, dict) else list(self.source)
        while True:
            item = rng.choice(items)
            img = item if isinstance(item, np.ndarray) else np.asarray(Image.open(item).convert("RGB"))
            crop = random_crop(img, self.size, rng, self.scale, self.shuffle_channels)
            yield torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0)
