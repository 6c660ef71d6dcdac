"""Where the region chunks go: aligned boxes grouped so that no pixel is coded twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from discover_core.bitstream import MAX_BOXES_PER_CHUNK
from discover_core.interfaces import IntBox, Region
from discover_core.regions import bounds


@dataclass(frozen=True)
class Group:
    """Overlapping regions coded together as one chunk: their boxes, labels and bounding rectangle."""

    boxes: tuple[IntBox, ...]
    labels: tuple[str, ...]

    @property
    def bounds(self) -> IntBox:
        return bounds(self.boxes)


def align_box(box: IntBox, align: int, margin: int, width: int, height: int) -> IntBox:
    """Grow a box by ``margin`` and outwards to multiples of ``align``, clipped to the image."""
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    a = max(1, align)
    return (x0 // a * a, y0 // a * a, min(width, -(-x1 // a) * a), min(height, -(-y1 // a) * a))


def group_regions(regions: Sequence[Region], width: int, height: int, align: int, margin: int) -> list[Group]:
    """Regions -> groups of overlapping aligned boxes (connected components), in reading order.

    Each group becomes one chunk, so a pixel covered by several regions is
    coded once; a chunk still decodes on its own.
    """
    items: list[tuple[IntBox, str]] = []
    for r in regions:
        x0, y0, x1, y1 = r.int_box(width, height)
        if not (x1 > x0 and y1 > y0):  # empty, or outside the image: covers no pixel, so no chunk
            continue
        box = align_box((x0, y0, x1, y1), align, margin, width, height)
        if box[2] > box[0] and box[3] > box[1]:
            items.append((box, r.label))
    items = list(dict.fromkeys(items))  # the same box with the same label once
    if not items:
        return []
    boxes_arr = np.asarray([b for b, _ in items])
    # Adjacency: boxes whose interiors intersect; groups are its connected components.
    adj = ((boxes_arr[:, None, 0] < boxes_arr[None, :, 2]) & (boxes_arr[None, :, 0] < boxes_arr[:, None, 2])
           & (boxes_arr[:, None, 1] < boxes_arr[None, :, 3]) & (boxes_arr[None, :, 1] < boxes_arr[:, None, 3]))
    _, component = connected_components(csr_matrix(adj), directed=False)
    members: dict[int, list[int]] = {}
    for i, c in enumerate(component):
        members.setdefault(int(c), []).append(i)
    groups = []
    for idx in members.values():
        boxes = tuple(dict.fromkeys(items[i][0] for i in idx))  # identical boxes are kept once
        if len(boxes) > MAX_BOXES_PER_CHUNK:  # more than a chunk may list: code their bounding rectangle
            boxes = (bounds(boxes),)
        labels = tuple(dict.fromkeys(items[i][1] for i in idx))
        groups.append(Group(boxes, labels))
    groups.sort(key=lambda g: (g.bounds[1], g.bounds[0], g.bounds[3], g.bounds[2]))
    return groups
