"""Weights of the torchvision heads: a state-dict file, or a torchvision weights name found in torch's hub folder."""

from __future__ import annotations

from pathlib import Path

from discover_core.errors import WeightsError
from discover_core.interfaces import Context


def weights_file(spec: str, default_enum: str, context: Context) -> Path:
    """The state-dict file ``spec`` names: a path (relative to the pipeline file), or ``hub`` / a torchvision
    weights name (``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``), looked up in torch's hub checkpoint folder."""
    looks_named = spec == "hub" or (spec.count(".") == 1 and "_Weights." in spec and "/" not in spec)
    if not looks_named:
        path = context.resolve(spec)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}", "give a state_dict file (torch.save(model."
                               "state_dict(), path)) or a torchvision weights name")
        return path
    import torch
    from torchvision.models import get_weight

    name = default_enum if spec == "hub" else spec
    try:
        enum = get_weight(name)
    except (ValueError, KeyError, AttributeError) as exc:
        raise WeightsError(f"no torchvision weights named {name!r} ({exc})",
                           f"e.g. {default_enum}") from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not file.is_file():
        raise WeightsError(f"the weights {name} are not in torch's hub folder: {file} is missing (no download "
                           f"here)", f"copy {enum.url} to {file}, or give a state_dict file path")
    return file


def load_state(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - not a state_dict file: the user's to fix
        raise WeightsError(f"{path} is not a torch state_dict ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state
