"""COCO-80: the categories, their official ids, and the other names a candidate label may use for them.

Class *i* is line *i* of the shipped ``coco-80.txt`` (:mod:`discover_core.labelsets`; the same order as
``src/object/labels.ts`` of ``@vladmandic/human`` and torchvision's detection weights); :data:`COCO_IDS`
holds the official COCO category ids (1..90 with gaps) that annotation files use.

A candidate label (compared with :func:`discover_core.normalize_label`, underscores as blanks) names a
category when it is its COCO name, one of the synonyms in ``coco-80-aliases.json`` (PASCAL VOC spellings such
as "tvmonitor", "sofa", "motorbike", everyday words such as "people", "man", "woman"), or the name of an
ImageNet-1k class that ``coco-80-to-imagenet-1k.json`` maps to that category ("tabby" -> cat, "moped" ->
motorcycle), so pipelines with ImageNet labels can ground with a COCO detector too. That mapping
(:func:`imagenet_mapping`) is also how the ``imagenet`` plugin reads COCO names as ImageNet classes.
"""

from __future__ import annotations

import functools
import json
from typing import Iterable, Sequence

from .errors import PluginError
from .interfaces import normalize_label
from .labelsets import label_list, labels_file

COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
            32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
            58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
            88, 89, 90)
"""Official COCO category id of each of the 80 classes, in class order."""


def norm(label: str) -> str:
    return normalize_label(str(label).replace("_", " "))


@functools.lru_cache(maxsize=1)
def coco_names() -> tuple[str, ...]:
    """The 80 category names in class order."""
    names = tuple(label_list("coco-80"))
    if len(names) != len(COCO_IDS):
        raise PluginError(f"{labels_file('coco-80.txt')} lists {len(names)} classes, expected {len(COCO_IDS)}",
                          "reinstall discover-codec")
    return names


@functools.lru_cache(maxsize=1)
def imagenet_mapping() -> dict[str, tuple[int, ...]]:
    """COCO-80 name -> the ImageNet-1k class indices (torchvision order) whose photos show an instance of it."""
    doc = json.loads(labels_file("coco-80-to-imagenet-1k.json").read_text(encoding="utf-8"))
    return {name: tuple(int(i) for i in idx) for name, idx in doc["mapping"].items()}


@functools.lru_cache(maxsize=1)
def _aliases() -> dict[str, frozenset[int]]:
    """Every accepted spelling (normalised) -> the class indices it names."""
    names = coco_names()
    index = {norm(n): i for i, n in enumerate(names)}
    table: dict[str, set[int]] = {}
    for i, n in enumerate(names):
        table.setdefault(norm(n), set()).add(i)
    doc = json.loads(labels_file("coco-80-aliases.json").read_text(encoding="utf-8"))
    for coco, words in doc["aliases"].items():
        for w in words:
            table.setdefault(norm(w), set()).add(index[norm(coco)])
    classes = label_list("imagenet-1k")
    for coco, ids in imagenet_mapping().items():
        for k in ids:
            if 0 <= k < len(classes) and norm(classes[k]) not in index:
                table.setdefault(norm(classes[k]), set()).add(index[norm(coco)])
    return {k: frozenset(v) for k, v in table.items()}


def vocabulary() -> frozenset[str]:
    """Every normalised label that names a COCO-80 category."""
    return frozenset(normalize_label(k) for k in _aliases())


def classes_of(label: str) -> frozenset[int]:
    """The class indices a label names (empty when it names none)."""
    return _aliases().get(norm(label), frozenset())


def match(labels: Sequence[str]) -> dict[int, str]:
    """Class index -> the candidate label (as given) that asks for it.

    When several candidates name the same class, the one spelled as the COCO name wins, else the first.
    """
    names = coco_names()
    out: dict[int, str] = {}
    exact: set[int] = set()
    for label in labels:
        for k in sorted(classes_of(label)):
            is_exact = norm(label) == norm(names[k])
            if k not in out or (is_exact and k not in exact):
                out[k] = label
                if is_exact:
                    exact.add(k)
    return out


def category_id(name_or_id: object) -> int | None:
    """The official COCO id of a category given by id, COCO name or alias (``None``: not a COCO-80 category)."""
    if isinstance(name_or_id, bool):
        return None
    if isinstance(name_or_id, int):
        return name_or_id if name_or_id in COCO_IDS else None
    found = classes_of(str(name_or_id))
    return COCO_IDS[min(found)] if len(found) == 1 else None


def names_of(ids: Iterable[int]) -> list[str]:
    """The COCO names of official category ids."""
    by_id = dict(zip(COCO_IDS, coco_names()))
    return [by_id[i] for i in ids]
