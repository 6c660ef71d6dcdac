"""The one report of a weights file that does not fit the architecture it is loaded into."""

from __future__ import annotations

from typing import Iterable, Mapping

from discover_core.errors import WeightsError


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def shape_mismatches(tensors: Mapping, expected: Mapping) -> list[str]:
    """``"<key> (file shape) vs model (model shape)"`` for each tensor of both whose shapes differ."""
    return [f"{k} {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
            for k, v in expected.items() if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]


def check_fit(weights: str, arch: object, hint: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
              shapes: Iterable[str] = ()) -> None:
    """Raise a :class:`WeightsError` ("``weights`` do not fit ``arch``", naming a few tensors of each problem)
    when any tensor is missing, unexpected or of another shape; ``weights`` names the file."""
    missing, unexpected, shapes = list(missing), list(unexpected), list(shapes)
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_few(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} of another shape ({'; '.join(shapes[:3])})")
    raise WeightsError(f"{weights} do not fit {arch}: " + ", ".join(parts), hint)
