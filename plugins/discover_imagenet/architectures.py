"""ImageNet-1k architectures: which library builds a name, an untrained network, and its input convention."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import torch
import torchvision

from discover_core.errors import ConfigError

from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

NUM_CLASSES = 1000
LIBRARIES = ("torchvision", "timm")


@dataclass(frozen=True)
class Arch:
    """An architecture and the library that builds it."""

    library: str
    name: str

    def __str__(self) -> str:
        return f"{self.library}:{self.name}"


def _torchvision_names() -> list[str]:
    return list(torchvision.models.list_models(module=torchvision.models))


def config_error(option: str, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"option '{option}'", [(option, message)], hint)


def resolve_arch(arch: str, prefer: str = "torchvision") -> Arch:
    """The library and name of an architecture (``timm:``/``torchvision:`` prefixes choose explicitly)."""
    lib, sep, name = arch.partition(":")
    if not sep:
        lib, name = "", arch
    elif lib not in LIBRARIES:
        raise config_error("backbone", f"unknown library '{lib}' in '{arch}'", "prefix with timm: or torchvision:")
    name = name.strip()
    order = [lib] if lib else ([prefer] + [x for x in LIBRARIES if x != prefer])
    for library in order:
        if library == "torchvision" and name in _torchvision_names():
            return Arch("torchvision", name)
        if library == "timm":
            import timm

            if timm.is_model(name):
                return Arch("timm", name)
    known = _torchvision_names()
    if lib != "torchvision":
        import timm

        known += timm.list_models()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    where = lib or "torchvision or timm"
    raise config_error(
        "backbone",
        f"unknown architecture '{name}' (not in {where})",
        f"did you mean {', '.join(close)}?" if close else "see torchvision.models.list_models() and timm.list_models()",
    )


def build_random(arch: Arch, **kwargs) -> torch.nn.Module:
    if arch.library == "timm":
        import timm

        return timm.create_model(arch.name, pretrained=False, num_classes=NUM_CLASSES, **kwargs)
    return torchvision.models.get_model(arch.name, weights=None, num_classes=NUM_CLASSES, **kwargs)


# ---------------------------------------------------------------- preprocessing


def timm_preprocess(model: torch.nn.Module) -> Preprocess:
    from timm.data import resolve_data_config

    cfg = resolve_data_config({}, model=model)
    size = int(cfg["input_size"][-1])
    interpolation = cfg.get("interpolation", "bilinear")
    return Preprocess(
        input_size=size,
        resize_size=int(math.floor(size / float(cfg.get("crop_pct", 0.875)))),
        interpolation=interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear",
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
    )


def torchvision_preprocess(name: str, weights_enum=None, file_name: str | None = None) -> Preprocess:
    """The evaluation transform of the torchvision weights (matched by file name, else the default)."""
    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return Preprocess()
    chosen = weights_enum or enum.DEFAULT
    if file_name is not None:
        for w in enum:
            if w.url.rsplit("/", 1)[-1] == file_name:
                chosen = w
                break
    t = chosen.transforms()
    crop = getattr(t, "crop_size", [224])
    resize = getattr(t, "resize_size", [256])
    interp = getattr(t, "interpolation", None)
    return Preprocess(
        input_size=int(crop[0]),
        resize_size=int(resize[0]),
        interpolation=getattr(interp, "value", "bilinear") or "bilinear",
        mean=tuple(float(v) for v in getattr(t, "mean", IMAGENET_MEAN)),
        std=tuple(float(v) for v in getattr(t, "std", IMAGENET_STD)),
    )

