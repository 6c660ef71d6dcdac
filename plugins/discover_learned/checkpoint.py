"""Checkpoints: ``NAME.safetensors`` (weights and the coder's CDF tables) beside ``NAME.json`` (architecture).

A checkpoint spec is a local file or folder, a hub id, or ``builtin`` (the small model shipped in this
package). A folder holds a rate family, ``quality-1.safetensors`` ... (λ_R sweep), and ``quality`` picks
one. compressai zoo state dicts (``mbt2018-mean-*.pth.tar`` and the like) are imported with
``torch.load(weights_only=True)``. Anything missing or not fitting is one :class:`WeightsError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from discover_core.errors import WeightsError
from discover_core.interfaces import Context

from .elic_net import ElicNet
from .model import CodecNet
from .nets import Arch

BUILTIN = Path(__file__).parent / "weights"
TABLE_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")
ZOO_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt", ".bin")


def build_net(arch: Arch) -> CodecNet:
    """The network an architecture names: :class:`ElicNet` for ``elic``, else the plain :class:`CodecNet`."""
    return ElicNet(arch) if arch.kind == "elic" else CodecNet(arch)


def save(net: CodecNet, path: Path, extra: dict | None = None, half: bool = False,
         scale_max: float | None = None) -> Path:
    """Write ``path`` (``.safetensors``) and its ``.json``; the tables are computed first if needed.

    ``half`` stores the learned parameters in float16 (half the file): the network's parameters are rounded
    to float16 first and the tables recomputed from them, so the file codes exactly as the loaded model."""
    from safetensors.torch import save_file

    params = {name for name, _ in net.named_parameters()}
    if half:
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(p.half().float())
    if half or scale_max is not None or not net.tables_ready():
        net.update_tables(scale_max)
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and k in params else v).detach().cpu().contiguous()
             for k, v in net.state_dict().items()}
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(path)
    meta = {"format": "discover-learned", "arch": net.arch.to_json(), **(extra or {})}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def export(source: Path, target: Path, half: bool = True, note: str | None = None,
           scale_max: float | None = None) -> Path:
    """Copy a trained checkpoint (e.g. ``discover train``'s output) into a smaller one: float16 parameters,
    optionally a scale table capped at ``scale_max``."""
    import json as _json

    net = load(Path(source))
    meta = _json.loads(Path(source).with_suffix(".json").read_text())
    extra = {k: v for k, v in meta.items() if k not in ("format", "arch")}
    if note:
        extra["note"] = note
    return save(net, Path(target), extra=extra, half=half, scale_max=scale_max)


def _fit_buffers(net: CodecNet, state: dict[str, torch.Tensor]) -> None:
    """Give the table buffers the shapes of the stored ones, so ``load_state_dict`` accepts them."""
    for key, value in state.items():
        mod_name, _, buf = key.rpartition(".")
        if buf in TABLE_BUFFERS:
            try:
                module = net.get_submodule(mod_name)
            except AttributeError:
                continue
            module.register_buffer(buf, torch.zeros_like(value))


def load_state(net: CodecNet, state: dict[str, torch.Tensor], source: str) -> None:
    _fit_buffers(net, state)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise WeightsError(f"checkpoint {source} does not fit the {net.arch.kind} architecture "
                           f"{net.arch.to_json()}: {' '.join(first)}",
                           "use the .json written with the checkpoint, or the options it was trained with")


def resolve(spec: str, context: Context, quality: int | None) -> Path:
    """The checkpoint file (``.safetensors`` or a zoo state dict) that ``spec`` and ``quality`` name."""
    if spec == "builtin":
        path = BUILTIN
    else:
        try:
            from discover_core.weights import resolve_weights
        except ImportError:  # pragma: no cover - older core
            path = context.resolve(spec)
        else:
            path = resolve_weights(spec, context=context, what="learned codec checkpoint")
    if not path.exists():
        raise WeightsError(f"learned codec checkpoint {path} does not exist",
                           "give a .safetensors file, a folder of quality-N.safetensors, or a hub id")
    if path.is_dir():
        family = {int(m.group(1)): p for p in sorted(path.glob("quality-*.safetensors"))
                  if (m := re.fullmatch(r"quality-(\d+)\.safetensors", p.name))}
        if not family:
            singles = sorted(path.glob("*.safetensors"))
            if len(singles) == 1 and quality is None:
                return singles[0]
            raise WeightsError(f"{path} holds no quality-N.safetensors checkpoint",
                               "train one with `discover train`, or name the file itself")
        if quality is None:
            if len(family) == 1:
                return next(iter(family.values()))
            raise WeightsError(f"{path} holds a rate family (qualities {sorted(family)}); choose one",
                               f"set the option quality to one of {sorted(family)}")
        if quality not in family:
            raise WeightsError(f"{path} has no checkpoint of quality {quality}",
                               f"available qualities: {sorted(family)}")
        return family[quality]
    return path  # a single file is one rate point: quality only selects inside a folder


def read_arch(path: Path) -> Arch:
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise WeightsError(f"checkpoint {path} has no architecture file {meta_path.name} beside it",
                           "keep the .json written with the checkpoint next to it")
    try:
        meta = json.loads(meta_path.read_text())
        return Arch.from_json(meta["arch"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{meta_path} is not a discover-learned architecture file ({exc})",
                           "keep the .json written with the checkpoint next to it") from None


def is_zoo(path: Path) -> bool:
    """Whether ``path`` is a compressai zoo state dict (its architecture comes from its tensors' shapes)."""
    return path.suffix in ZOO_SUFFIXES or path.name.endswith(".pth.tar")


def load(path: Path) -> CodecNet:
    """Build the network a checkpoint file describes and load its weights and tables."""
    if is_zoo(path):
        return import_zoo(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    arch = read_arch(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"checkpoint {path} cannot be read ({exc})", "the file is damaged; fetch it again") \
            from None
    net = build_net(arch)
    state = {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}
    load_state(net, state, str(path))
    if not net.tables_ready():
        net.update_tables()
    return net.eval()


def import_zoo(path: Path) -> CodecNet:
    """A compressai mean-scale state dict (``mbt2018-mean``, ``bmshj2018-hyperprior`` shapes): the pixels
    target without M(ẑ); the tables are recomputed with this package's scale table."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a state dict
        raise WeightsError(f"{path} is not a torch state dict ({type(exc).__name__}: {exc})",
                           "import compressai zoo checkpoints such as mbt2018-mean-3.pth.tar") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        n, m = int(state["g_a.0.weight"].shape[0]), int(state["g_a.6.weight"].shape[0])
    except (KeyError, TypeError, AttributeError):
        raise WeightsError(f"{path} is not a compressai mean-scale hyperprior state dict (no g_a.0/g_a.6)",
                           "import mbt2018-mean or bmshj2018-hyperprior checkpoints") from None
    net = CodecNet(Arch(kind="hyperprior", target="pixels", channels=n, latent_channels=m, global_channels=0))
    state = {k: v for k, v in state.items() if k.rpartition(".")[2] not in TABLE_BUFFERS}
    # compressai's GDN stores beta/gamma reparametrised exactly as here; the tables are rebuilt below
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.rpartition(".")[2] not in TABLE_BUFFERS]
    if missing or unexpected:
        raise WeightsError(f"{path} does not fit a mean-scale hyperprior (N={n}, M={m}): missing "
                           f"{missing[:3]}, unexpected {unexpected[:3]}",
                           "only mean-scale models (mbt2018-mean) import directly")
    net.update_tables()
    return net.eval()


def state_fingerprint(net: CodecNet) -> str:
    """``sha256:`` of weights that live only in memory (seeded initial weights)."""
    from safetensors.torch import save

    h = hashlib.sha256(save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}))
    h.update(json.dumps(net.arch.to_json(), sort_keys=True).encode())
    return "sha256:" + h.hexdigest()


def file_fingerprint(path: Path, context: Context) -> str:
    files = [path] + ([path.with_suffix(".json")] if path.with_suffix(".json").is_file() else [])
    try:
        from discover_core.weights import fingerprint
    except ImportError:  # pragma: no cover - older core
        h = hashlib.sha256()
        for f in files:
            h.update(f.read_bytes())
        return "sha256:" + h.hexdigest()
    return fingerprint(files if len(files) > 1 else files[0], context=context)
