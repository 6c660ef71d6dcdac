"""The torch device a component runs on: its ``device`` option, else the pipeline's, checked before any model."""

from __future__ import annotations

from .errors import ConfigError


def component_device(component):
    """``torch.device`` of ``component.options.device`` (else ``component.context.device``, else cpu); a device
    that is not one, or not here (CUDA, MPS), is a :class:`ConfigError` naming the component's option."""
    import torch

    name = getattr(component.options, "device", None) or component.context.device or "cpu"
    where = f"{component.kind.replace('_', ' ')} '{component.name}'"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ConfigError(where, [("options.device", f"'{name}' is not a torch device ({e})")],
                          "use cpu, cuda, cuda:1 or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(where, [("options.device", f"'{name}' is not available (no CUDA here)")], "use device: cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(where, [("options.device", f"'{name}' is not available (no MPS here)")], "use device: cpu")
    return dev
