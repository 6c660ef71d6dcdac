"""Where the Stable Diffusion base and the latent-condition ControlNet come from, and loading them (diffusers).

The base is any SD 2.x-compatible model in the diffusers layout (a local folder or a hub id, through
:func:`discover_core.weights.resolve_weights`). The ControlNet takes ẑ_c itself at latent resolution: four
input channels and a conditioning embedding of one entry (no downsampling), made by
``ControlNetModel.from_unet(unet, conditioning_channels=4, conditioning_embedding_out_channels=(c,))``; a
saved one is any folder ``save_pretrained`` wrote. Loaded models are shared per process.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from discover_core.errors import ConfigError, WeightsError
from discover_core.interfaces import Context
from discover_core.weights import classify, file_sha256, hub_copy_dir, resolve_weights

SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
CONFIGS = ("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
           "scheduler/scheduler_config.json")
HUB_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
               "text_encoder/model.safetensors")
HUB_TOKENIZER = ("tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
                 "tokenizer/special_tokens_map.json")
WEIGHT_NAMES = {"unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"}
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
CONTROLNET_FILES = ("config.json",)
BASE_LAYOUT = ("model_index.json, unet/ (config.json, diffusion_pytorch_model.safetensors), vae/ (the same), "
               "text_encoder/ (config.json, model.safetensors), tokenizer/ (vocab.json, merges.txt or "
               "tokenizer.json, tokenizer_config.json), scheduler/ (scheduler_config.json)")
CONTROLNET_LAYOUT = "config.json and diffusion_pytorch_model.safetensors (what ControlNetModel.save_pretrained writes)"


def _where(spec: str, context: Context) -> str:
    kind, value = classify(spec, context)
    if kind == "hub":
        return f"{hub_copy_dir(value, context)} (the local copy of the hub id {value}), or give its folder"
    return str(context.resolve(value))


def resolve_base(spec: str, context: Context) -> Path:
    """The folder of the SD base ``spec`` names, checked for every file loading needs (one WeightsError)."""
    what = "Stable Diffusion base model"
    kind, _ = classify(spec, context)
    files = CONFIGS + HUB_WEIGHTS + HUB_TOKENIZER if kind == "hub" else CONFIGS
    try:
        folder = resolve_weights(spec, context=context, what=f"{what} '{spec}'", files=files, want="folder")
    except WeightsError as e:
        raise WeightsError(e.message, f"put a local copy in {_where(spec, context)} with the diffusers layout: "
                                      f"{BASE_LAYOUT}" + (f"; {e.hint}" if e.hint else "")) from e
    missing = [f"{sub}/{WEIGHT_NAMES[sub]}.safetensors" for sub in WEIGHT_NAMES
               if not any((folder / sub / (WEIGHT_NAMES[sub] + s)).is_file() for s in WEIGHT_SUFFIXES)]
    if not any(all((folder / "tokenizer" / f).is_file() for f in group) for group in TOKENIZER_FILES):
        missing.append("tokenizer/vocab.json + tokenizer/merges.txt (or tokenizer/tokenizer.json)")
    if missing:
        raise WeightsError(f"{what} '{spec}': {', '.join(missing)} missing in {folder}",
                           f"complete the copy (diffusers layout: {BASE_LAYOUT})")
    return folder


def resolve_controlnet(spec: str, context: Context) -> Path:
    """The folder of a saved latent-condition ControlNet (one WeightsError naming the files it needs)."""
    what = f"latent-condition ControlNet '{spec}'"
    kind, _ = classify(spec, context)
    files = ("config.json", "diffusion_pytorch_model.safetensors") if kind == "hub" else CONTROLNET_FILES
    try:
        folder = resolve_weights(spec, context=context, what=what, files=files, want="folder")
    except WeightsError as e:
        raise WeightsError(e.message, f"put {CONTROLNET_LAYOUT} in {_where(spec, context)}; one is trained "
                                      f"with the diffusion loss (discover_diffusion.training), or leave "
                                      f"`controlnet` empty for an untrained one" + (f"; {e.hint}" if e.hint else "")
                           ) from e
    if not any((folder / ("diffusion_pytorch_model" + s)).is_file() for s in WEIGHT_SUFFIXES):
        raise WeightsError(f"{what}: no diffusion_pytorch_model.safetensors in {folder}",
                           f"put {CONTROLNET_LAYOUT} there")
    return folder


def weight_files(folder: Path, subfolders: tuple[str, ...] = SUBFOLDERS) -> list[tuple[str, Path]]:
    """(relative name, path) of the files of ``folder`` that loading reads: configs, tokenizer files and the
    weights (safetensors preferred, as diffusers does; other variants such as fp16 are left out)."""
    out: list[tuple[str, Path]] = []
    for sub in subfolders:
        d = folder / sub if sub else folder
        if not d.is_dir():
            continue
        files = sorted(p for p in d.iterdir() if p.is_file())
        weights = [p for p in files if p.suffix in WEIGHT_SUFFIXES and p.name.count(".") == 1]
        safe = [p for p in weights if p.suffix == ".safetensors"]
        chosen = safe or weights
        out += [(f"{sub}/{p.name}" if sub else p.name, p) for p in files
                if p in chosen or (p.suffix in (".json", ".txt") and p not in weights)]
    return out


def files_digest(named: list[tuple[str, Path]], context: Context) -> str:
    h = hashlib.sha256()
    for rel, path in sorted(named):
        h.update(f"{rel}\0{file_sha256(path, context=context)}\n".encode())
    return h.hexdigest()


def new_controlnet(unet, channels: int):
    """An untrained latent-condition ControlNet copied from ``unet`` (zero convolutions: no effect yet).
    Its only random part (the conditioning embedding's first convolution) is drawn from a fixed seed."""
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return ControlNetModel.from_unet(unet, conditioning_channels=int(unet.config.in_channels),
                                         conditioning_embedding_out_channels=(int(channels),))


def check_latent_controlnet(net, unet, where: str) -> None:
    """A WeightsError unless ``net`` takes a latent of the UNet's channels at latent resolution."""
    cfg = net.config
    channels = int(unet.config.in_channels)
    if int(cfg.conditioning_channels) != channels or len(cfg.conditioning_embedding_out_channels) != 1:
        raise WeightsError(
            f"the ControlNet in {where} takes {cfg.conditioning_channels}-channel conditions downsampled "
            f"{2 ** (len(cfg.conditioning_embedding_out_channels) - 1)}x (an image ControlNet), not a "
            f"{channels}-channel latent at latent resolution",
            "use a ControlNet made by ControlNetModel.from_unet(unet, conditioning_channels=4, "
            "conditioning_embedding_out_channels=(c,)) and trained on ẑ_c")
    if tuple(cfg.block_out_channels) != tuple(unet.config.block_out_channels):
        raise WeightsError(f"the ControlNet in {where} does not fit the base model's UNet (block channels "
                           f"{tuple(cfg.block_out_channels)} vs {tuple(unet.config.block_out_channels)})",
                           "use the ControlNet trained with this base model")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "float16" and device.type == "cpu":
        raise ConfigError("option 'dtype'", [("dtype", "float16 runs on a GPU only")], "use dtype: auto or float32")
    if dtype == "float16" or (dtype == "auto" and device.type == "cuda"):
        return torch.float16
    return torch.float32


def resolve_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ConfigError("option 'device'", [("device", f"'{device}' is not a torch device ({e})")],
                          "use cpu, cuda, cuda:1 or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("option 'device'", [("device", f"'{device}' is not available (no CUDA here)")],
                          "use device: cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("option 'device'", [("device", f"'{device}' is not available (no MPS here)")],
                          "use device: cpu")
    return dev


@dataclass
class Models:
    """A loaded SD base with its latent-condition ControlNet, as a diffusers pipeline holds them."""

    pipe: Any
    """``StableDiffusionControlNetPipeline`` (container of the models; its memory options apply)."""
    device: torch.device
    dtype: torch.dtype
    base: Path
    controlnet_folder: Path | None
    controlnet_channels: int
    _fingerprint: str | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    unet = property(lambda self: self.pipe.unet)
    controlnet = property(lambda self: self.pipe.controlnet)
    vae = property(lambda self: self.pipe.vae)
    text_encoder = property(lambda self: self.pipe.text_encoder)
    tokenizer = property(lambda self: self.pipe.tokenizer)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def unet_factor(self) -> int:
        """The latent sizes the UNet takes are multiples of this."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def execution_device(self) -> torch.device:
        return self.pipe._execution_device

    def fingerprint(self, context: Context) -> str:
        """``sha256:`` of the base files loaded and of the ControlNet (or of how an untrained one is made)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(b"base\0" + files_digest(weight_files(self.base), context).encode() + b"\n")
            if self.controlnet_folder is not None:
                digest = files_digest(weight_files(self.controlnet_folder, ("",)), context)
                h.update(b"controlnet\0" + digest.encode())
            else:
                h.update(f"controlnet\0from_unet(conditioning_embedding_out_channels=({self.controlnet_channels},)),"
                         f" seed 0".encode())
            self._fingerprint = "sha256:" + h.hexdigest()
        return self._fingerprint


_CACHE: dict[tuple, Models] = {}
_CACHE_LOCK = threading.Lock()


def _stamp(folder: Path | None) -> tuple:
    if folder is None:
        return ()
    return tuple((rel, p.stat().st_size, p.stat().st_mtime_ns) for rel, p in
                 weight_files(folder, SUBFOLDERS if (folder / "model_index.json").is_file() else ("",)))


def load_models(base: str, controlnet: str | None, channels: int, device: str, dtype: str, context: Context,
                attention_slicing: bool = False, cpu_offload: bool = False) -> Models:
    """The base and ControlNet, loaded once per process for the same files and settings."""
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if cpu_offload and dev.type == "cpu":
        raise ConfigError("option 'cpu_offload'", [("cpu_offload", "CPU offload moves models to a GPU when used; "
                                                                   "the device is the CPU")],
                          "use cpu_offload only with device: cuda")
    base_dir = resolve_base(base, context)
    cn_dir = resolve_controlnet(controlnet, context) if controlnet else None
    key = (str(base_dir), _stamp(base_dir), str(cn_dir), _stamp(cn_dir), None if cn_dir else channels, str(dev),
           str(torch_dtype), attention_slicing, cpu_offload)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = _load(base_dir, cn_dir, channels, dev, torch_dtype, attention_slicing, cpu_offload)
            _CACHE[key] = found
    return found


def _load(base: Path, cn_dir: Path | None, channels: int, device: torch.device, dtype: torch.dtype,
          attention_slicing: bool, cpu_offload: bool) -> Models:
    from diffusers import (AutoencoderKL, ControlNetModel, StableDiffusionControlNetPipeline,
                           UNet2DConditionModel)
    from diffusers.utils import logging as dlogging
    from transformers import CLIPTextModel, CLIPTokenizer

    from transformers.utils import logging as tlogging

    dlogging.disable_progress_bar()
    tlogging.disable_progress_bar()
    try:
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae", torch_dtype=dtype)
        text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer")
        scheduler = _scheduler_from(base)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise WeightsError(f"the Stable Diffusion base model in {base} cannot be loaded: {type(e).__name__}: "
                           f"{(str(e).strip().splitlines() or [''])[0][:300]}",
                           f"check that it is a complete SD 2.x copy in the diffusers layout: {BASE_LAYOUT}") from e
    if cn_dir is not None:
        try:
            controlnet = ControlNetModel.from_pretrained(cn_dir, torch_dtype=dtype)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise WeightsError(f"the ControlNet in {cn_dir} cannot be loaded: {type(e).__name__}: "
                               f"{(str(e).strip().splitlines() or [''])[0][:300]}",
                               f"it needs {CONTROLNET_LAYOUT}") from e
        check_latent_controlnet(controlnet, unet, str(cn_dir))
        channels = int(controlnet.config.conditioning_embedding_out_channels[0])
    else:
        controlnet = new_controlnet(unet, channels)
        if dtype != torch.float32:
            controlnet = controlnet.to(dtype)
    for m in (unet, vae, text_encoder, controlnet):
        m.requires_grad_(False)
        m.eval()
    pipe = StableDiffusionControlNetPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                             controlnet=controlnet, scheduler=scheduler, safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    if cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if attention_slicing:
        pipe.enable_attention_slicing()
    return Models(pipe=pipe, device=device, dtype=dtype, base=base, controlnet_folder=cn_dir,
                  controlnet_channels=channels)


def _scheduler_from(base: Path):
    """The base's own scheduler class and config (``scheduler/scheduler_config.json``)."""
    import json

    import diffusers

    cfg = json.loads((base / "scheduler" / "scheduler_config.json").read_text("utf-8"))
    cls = getattr(diffusers, str(cfg.get("_class_name", "")), None) or diffusers.DDIMScheduler
    return cls.from_config(cfg)
