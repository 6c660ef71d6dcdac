"""The candidate labels that mean a person, and the annotations of persons in COCO-format targets.

A label (compared with :func:`discover_core.normalize_label`, underscores as blanks) means a person when it
is one of :data:`PERSON_WORDS`: COCO's ``person``, everyday words for people, ``face`` (a face belongs to
a person: its pixels are inside the person mask), and the ImageNet-1k classes that are persons.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from discover_core.interfaces import normalize_label

PERSON_WORDS = (
    "person", "persons", "people", "human", "humans", "human being", "human body", "man", "men", "woman", "women",
    "child", "children", "kid", "kids", "boy", "boys", "girl", "girls", "baby", "babies", "toddler", "adult",
    "adults", "teenager", "lady", "ladies", "gentleman", "pedestrian", "pedestrians", "face", "faces",
    "portrait", "selfie", "scuba diver", "groom", "ballplayer",
)
COCO_PERSON_ID = 1


def norm(label: Any) -> str:
    return normalize_label(str(label).replace("_", " "))


VOCABULARY = frozenset(norm(w) for w in PERSON_WORDS)
"""Every normalised label that means a person."""


def is_person(label: Any) -> bool:
    return norm(label) in VOCABULARY


def match(labels: Sequence[str]) -> str | None:
    """The candidate label (as given) that the person instances are labelled with: ``person`` itself when it is a
    candidate, else the first candidate that means a person; ``None`` when none does."""
    people = [lab for lab in labels if is_person(lab)]
    exact = [lab for lab in people if norm(lab) == "person"]
    return (exact or people or [None])[0]


def is_person_annotation(annotation: dict) -> bool:
    """A COCO annotation of a person: ``category_id`` 1, or a ``category`` / ``label`` name meaning a person."""
    cat = annotation.get("category_id", annotation.get("category", annotation.get("label")))
    if isinstance(cat, bool) or cat is None:
        return False
    if isinstance(cat, numbers.Number):
        return cat == COCO_PERSON_ID
    return is_person(cat)
