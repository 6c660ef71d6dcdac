"""Task heads whose figures only mean something over the whole set of photos (detection, segmentation: COCO AP).

COCO AP ranks the detections of every image together, so the mean of per-image APs is not the AP of the
set. The evaluate run scores the task-only and full streams so (its aggregates); for the whole-image
baselines the demo keeps each picture's prediction and scores them once per quality point and method: ``head.score(predictions, references=<predictions on the originals>, targets=<annotations>)``,
the photos in the same order in all three.
"""

from __future__ import annotations

from typing import Any

from ..interfaces import TaskHead
from ..photos import Photo

SET_TASKS = frozenset({"detection", "segmentation"})
"""Tasks whose heads are scored over the whole set of photos at once."""


def scored_over_set(head: TaskHead) -> bool:
    return head.task in SET_TASKS


def targets_of(head: TaskHead, photo: Photo) -> Any:
    """The ground truth of a photo for a head: its COCO annotations for a set-scored task, its ImageNet classes else."""
    return photo.annotations if head.task in SET_TASKS else photo.classes


class SetScores:
    """Predictions of the set-scored heads, per quality point and method, scored once over the photos."""

    def __init__(self, heads: list[TaskHead], photos: list[Photo]):
        self.heads = [h for h in heads if scored_over_set(h)]
        self.photos = photos
        self.refs: dict[str, dict[int, Any]] = {h.name: {} for h in self.heads}
        self.preds: dict[tuple[int, str], dict[str, dict[int, Any]]] = {}

    def reference(self, head: TaskHead, photo: int, prediction: Any) -> None:
        self.refs[head.name][photo] = prediction

    def add(self, quality: int, method: str, head: TaskHead, photo: int, prediction: Any) -> None:
        self.preds.setdefault((quality, method), {}).setdefault(head.name, {})[photo] = prediction

    def _score(self, head: TaskHead, preds: dict[int, Any]) -> dict[str, float]:
        order = sorted(preds)
        scores = head.score([preds[i] for i in order], references=[self.refs[head.name][i] for i in order],
                            targets=[targets_of(head, self.photos[i]) for i in order])
        return {"photos": len(order), **scores}

    def original(self) -> dict[str, dict[str, float]]:
        """Each head on the original photos: AP against the annotations (agreement is 1 by definition)."""
        return {h.name: self._score(h, self.refs[h.name]) for h in self.heads if self.refs[h.name]}

    def score(self) -> dict[tuple[int, str], dict[str, dict[str, float]]]:
        """``{(quality, method): {head: scores}}``, each scored once over the photos that have that point."""
        by_name = {h.name: h for h in self.heads}
        return {key: {name: self._score(by_name[name], preds) for name, preds in per_head.items()}
                for key, per_head in self.preds.items()}
