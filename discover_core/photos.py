"""The demo photos (scikit-image's data module, matplotlib's sample data) and their hand-drawn annotations."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ExtraMissingError, InputError
from .images import from_array

ANNOTATIONS = "data/demo/annotations.json"
"""COCO-format annotations of the demo photos (package data of discover_core)."""


@dataclass
class Photo:
    name: str
    image: np.ndarray
    subject_boxes: list[tuple[float, float, float, float]]
    classes: list[int]
    subject: str
    annotations: list[dict] = field(default_factory=list)
    """Every COCO annotation of the photo (``bbox`` [x, y, w, h], ``category_id``; ids >= 100 are not COCO-80)."""


def load_photo(file_name: str) -> np.ndarray:
    stem = Path(file_name).stem
    if file_name == "grace_hopper.jpg":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f, Image.open(f) as img:
            return from_array(np.asarray(img.convert("RGB")))
    from skimage import data

    if stem == "stereo_motorcycle":  # the left view of the stereo pair
        return from_array(data.stereo_motorcycle()[0])
    return from_array(getattr(data, stem)())


def demo_photos(names: list[str] | None = None) -> list[Photo]:
    """The demo photos (scikit-image's data module, matplotlib's sample data) with their annotations.

    ``names`` picks some of them by file name or stem (``chelsea.png`` or ``chelsea``).
    """
    for module, extra in (("skimage", "demo"), ("matplotlib", "demo")):
        if importlib.util.find_spec(module) is None:
            raise ExtraMissingError(f"the demo photos come with {module}, which is not installed",
                                    f"pip install 'discover-codec[{extra}]'")
    coco = json.loads(resources.files("discover_core").joinpath(ANNOTATIONS).read_text(encoding="utf-8"))
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    images = coco["images"]
    if names:
        known = {i["file_name"]: i for i in images} | {Path(i["file_name"]).stem: i for i in images}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(f"no demo photo named {', '.join(unknown)}",
                             f"demo photos: {', '.join(i['file_name'] for i in images)}")
        images = list({id(known[n]): known[n] for n in names}.values())
    photos = []
    for img in images:
        subject = img.get("subject", "")
        mine = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
        boxes = [(a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
                 for a in mine if cats[a["category_id"]] == subject]
        photos.append(Photo(img["file_name"], load_photo(img["file_name"]), boxes,
                            list(img.get("imagenet_classes", [])), subject, mine))
    return photos
