"""Compare the PyTorch port with detections of the original JavaScript runtime (``scripts/check_centernet_port.py``).

A reference file (``tests/centernet/data/reference.json``) holds, per photo, the sha256 of its pixels,
``raw``: the rows of the model's ``tower_0/detections`` (x1, y1, x2, y2 in 512-pixel input, score, class)
with a score of at least :data:`RAW_MIN_SCORE`, and ``human``: what ``human.detect()`` returned (its
``boxRaw`` is x, y, w, h as fractions of the image; its ``score`` is truncated to two decimals).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

RAW_MIN_SCORE = 0.01
"""Raw rows at least this confident are kept in the reference file and compared."""


def pixels_sha256(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


@dataclass
class Diff:
    """Largest differences between the port and the reference on one photo (boxes in image pixels)."""

    name: str
    raw_rows: int = 0
    raw_box_px: float = 0.0
    raw_score: float = 0.0
    unmatched_raw: list = field(default_factory=list)
    human_count: tuple[int, int] = (0, 0)
    human_box_px: float = 0.0
    human_score: float = 0.0
    label_mismatches: list = field(default_factory=list)

    def ok(self, box_px: float = 1.0, score: float = 1e-3) -> bool:
        return (not self.unmatched_raw and not self.label_mismatches and self.human_count[0] == self.human_count[1]
                and self.raw_box_px <= box_px and self.raw_score <= score and self.human_box_px <= box_px
                and self.human_score <= score)


def compare(name: str, ref: dict, raw: np.ndarray, detections, score_threshold: float = 0.2) -> Diff:
    """``raw``: the port's (100, 6) rows; ``detections``: its post-processed list (same settings as ``ref``)."""
    from discover_core.coco import coco_names

    w, h = ref["width"], ref["height"]
    scale = np.array([w, h, w, h], dtype=np.float64) / 512.0
    diff = Diff(name)
    mine = np.asarray(raw, dtype=np.float64)
    for row in ref["raw"]:
        row = np.asarray(row, dtype=np.float64)
        if row[4] < RAW_MIN_SCORE:
            continue
        diff.raw_rows += 1
        same = mine[mine[:, 5] == row[5]]  # rows of the same class; near-equal scores may come in another order
        if not len(same):
            diff.unmatched_raw.append(row.tolist())
            continue
        box_err = np.abs((same[:, :4] - row[:4]) * scale).max(axis=1)
        cost = box_err + 1000.0 * np.abs(same[:, 4] - row[4])
        j = int(np.argmin(cost))
        if box_err[j] > 2.0 or abs(same[j, 4] - row[4]) > 0.01:
            diff.unmatched_raw.append(row.tolist())
            continue
        diff.raw_box_px = max(diff.raw_box_px, float(box_err[j]))
        diff.raw_score = max(diff.raw_score, float(abs(same[j, 4] - row[4])))
    theirs = ref["human"]
    diff.human_count = (len(detections), len(theirs))
    names = coco_names()
    for d, t in zip(detections, theirs):
        if names[d.index] != t["label"]:
            diff.label_mismatches.append((names[d.index], t["label"]))
            continue
        x, y, bw, bh = t["boxRaw"]
        box = np.array([x * w, y * h, (x + bw) * w, (y + bh) * h])
        # the original does not clip its boxes to the image; compare what lies inside
        box = np.clip(box, 0, [w, h, w, h])
        diff.human_box_px = max(diff.human_box_px, float(np.abs(np.asarray(d.box) - box).max()))
        # the original truncates scores to two decimals: how far the port's score is from [score, score + 0.01)
        s, t_score = d.score, float(t["score"])
        diff.human_score = max(diff.human_score, t_score - s, s - (t_score + 0.01))
    return diff
