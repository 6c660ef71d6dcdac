"""Which latent positions go into which content chunk.

Regions are mapped to the latent grid (``stride`` pixels per position, boxes rounded outwards); boxes whose
cells overlap are grouped (connected components), and each group is one chunk. Every position that no group
covers belongs to the ``rest`` chunk, so every position is in exactly one chunk. The layout (each chunk's
latent boxes) travels in the stream's params, so a decoder knows every chunk's positions whichever chunks
arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from discover_core.errors import PayloadError
from discover_core.interfaces import IntBox, Region

REST = "rest"


@dataclass(frozen=True)
class ChunkPlan:
    """One content chunk: its name, labels, pixel boxes (for tagging) and latent boxes (its positions)."""

    name: str
    labels: tuple[str, ...]
    boxes: tuple[IntBox, ...]
    cells: tuple[IntBox, ...]


def grid_size(width: int, height: int, pad: int = 64, stride: int = 16) -> tuple[int, int]:
    """``(gw, gh)``: the latent grid of an image padded to multiples of ``pad``."""
    return -(-width // pad) * pad // stride, -(-height // pad) * pad // stride


def plan_chunks(regions: Sequence[Region], width: int, height: int, stride: int = 16) -> list[ChunkPlan]:
    """Region groups in reading order (no ``rest``)."""
    items: list[tuple[IntBox, IntBox, str]] = []
    for r in regions:
        x0, y0, x1, y1 = r.int_box(width, height)
        if x1 > x0 and y1 > y0:
            cell = (x0 // stride, y0 // stride, -(-x1 // stride), -(-y1 // stride))
            items.append(((x0, y0, x1, y1), cell, r.label))
    if not items:
        return []
    c = np.asarray([cell for _, cell, _ in items])
    adj = ((c[:, None, 0] < c[None, :, 2]) & (c[None, :, 0] < c[:, None, 2])
           & (c[:, None, 1] < c[None, :, 3]) & (c[None, :, 1] < c[:, None, 3]))
    _, comp = connected_components(csr_matrix(adj), directed=False)
    members: dict[int, list[int]] = {}
    for i, k in enumerate(comp):
        members.setdefault(int(k), []).append(i)
    groups = [(tuple(dict.fromkeys(items[i][0] for i in idx)), tuple(dict.fromkeys(items[i][1] for i in idx)),
               tuple(dict.fromkeys(items[i][2] for i in idx))) for idx in members.values()]
    groups.sort(key=lambda g: (min(b[1] for b in g[1]), min(b[0] for b in g[1])))
    return [ChunkPlan(f"region-{i}", labels, boxes, cells) for i, (boxes, cells, labels) in enumerate(groups)]


def chunk_map(layout: Sequence[tuple[str, Sequence[IntBox]]], grid: tuple[int, int]) -> np.ndarray:
    """``(gh, gw)`` int array: the index in ``layout`` of each position's chunk, ``len(layout)`` for ``rest``."""
    gw, gh = grid
    out = np.full((gh, gw), len(layout), dtype=np.int32)
    for i, (_, cells) in enumerate(layout):
        for x0, y0, x1, y1 in cells:
            out[y0:y1, x0:x1] = i
    return out


def layout_params(plans: Sequence[ChunkPlan]) -> list[list[Any]]:
    return [[p.name, [list(c) for c in p.cells]] for p in plans]


def read_layout(params: dict[str, Any], grid: tuple[int, int]) -> list[tuple[str, list[IntBox]]]:
    """The layout from a stream's params, checked: a malformed one is a :class:`PayloadError`."""
    raw = params.get("layout")
    gw, gh = grid
    try:
        layout = [(str(name), [tuple(int(v) for v in cell) for cell in cells]) for name, cells in raw]
        for name, cells in layout:
            for cell in cells:
                x0, y0, x1, y1 = cell
                if len(cell) != 4 or not (0 <= x0 < x1 <= gw and 0 <= y0 < y1 <= gh):
                    raise ValueError(f"cell {cell} of '{name}' outside the {gw}x{gh} grid")
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"the stream's chunk layout cannot be read ({exc})",
                           "the stream is damaged or was written by another codec") from None
    return layout


def arrived_map(cmap: np.ndarray, layout: Sequence[tuple[str, Any]], names: set[str]) -> np.ndarray:
    """``(gh, gw)`` bool: positions whose chunk is in ``names``."""
    ids = [i for i, (n, _) in enumerate(layout) if n in names]
    if REST in names:
        ids.append(len(layout))
    return np.isin(cmap, ids)
