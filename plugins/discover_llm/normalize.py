"""Labels as a model writes them -> the labels a grounder is given.

Each label is stripped of list numbering and bullets (``1. cat``, ``2) dog``,
``- bus``, ``(3) kite``), of quotes and trailing punctuation, whitespace is
collapsed and case folded to lower case, and plurals become singular
(``traffic lights`` -> ``traffic light``, ``knives`` -> ``knife``, by
``inflect``; singular words that end in -s, ``bus``, ``glass``, ``axis``,
and nouns used in the plural, ``scissors``, ``jeans``, are kept). Empty labels
and repeats (after all that) are dropped; the first occurrence keeps its place.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,4}[.):\]]|\(\d{1,4}\)|[-*\u2022\u00b7\u2013\u2014>]+|#+)\s*")
_EDGES = "\"'`\u201c\u201d\u2018\u2019 \t"
_TRAILING = ".,;:!"
_KEEP_ENDINGS = ("ss", "us")
"""Last words ending like this are singular already (bus, glass, cactus, walrus); inflect would strip them."""
SINGULAR_IN_S = frozenset({
    "axis", "tennis", "iris", "ibis", "chassis", "canvas", "atlas", "gas", "lens", "christmas", "pancreas",
    "analysis", "basis", "trellis", "mantis", "penis", "pelvis", "bias", "alias", "texas",
    "octopus", "cosmos", "rhinoceros", "asbestos", "pathos", "kudos", "chaos",
})
"""Words ending in -s that are singular and that inflect would strip (axis -> axi)."""
PLURALIA_TANTUM = frozenset({
    "scissors", "jeans", "pants", "trousers", "shorts", "glasses", "sunglasses", "eyeglasses", "binoculars",
    "headphones", "earphones", "pliers", "tongs", "tweezers", "goggles", "clothes", "leggings", "pajamas",
    "news", "series", "species", "means", "headquarters", "barracks", "sports", "electronics",
})
"""Nouns whose plural form is the usual label: kept as they are."""


@lru_cache(maxsize=1)
def _engine():
    import inflect

    return inflect.engine()


def singular(label: str) -> str:
    """The singular of a lower-case label (its last word), or the label itself when it is not plural."""
    words = label.split(" ")
    last = words[-1]
    if len(last) < 3 or last in PLURALIA_TANTUM or last in SINGULAR_IN_S or not last.isalpha():
        return label
    if last.endswith(_KEEP_ENDINGS):
        return label
    one = _engine().singular_noun(last)
    if not one or one == last:
        return label
    return " ".join(words[:-1] + [one])


def clean(label: str) -> str:
    """One label: numbering, bullets, quotes, trailing punctuation and extra whitespace removed, lower case,
    singular. ``""`` when nothing is left."""
    text = " ".join(str(label).split())
    for _ in range(3):  # "1. - cat", "\"2. dog\""
        before = text
        text = _NUMBERING.sub("", text).strip(_EDGES).rstrip(_TRAILING).strip(_EDGES)
        if text == before:
            break
    text = text.lower()
    return singular(text) if text else ""


def normalize_labels(labels: Iterable[str]) -> list[str]:
    """Every label cleaned (:func:`clean`); empty ones and repeats dropped, first occurrence first."""
    out: dict[str, None] = {}
    for lab in labels:
        if not isinstance(lab, str):
            continue
        for part in lab.splitlines() or [lab]:  # a model sometimes puts a whole list into one string
            text = clean(part)
            if text:
                out.setdefault(text, None)
    return list(out)
