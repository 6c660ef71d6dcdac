"""ImageNet-1k class names, their synonyms, the COCO-80 mapping, and matching labels to classes.

Data files:

- the core's ``imagenet-1k.txt`` (:mod:`discover_core.labelsets`): the 1000 class names in index order
  (torchvision's ``categories``; the ``imagenet-1k`` preset of the static label source).
- ``imagenet-1k-synonyms.txt`` (this package): line *i* holds the WordNet
  lemmas of class *i*, comma-separated (taken from timm's
  ``imagenet_synset_to_lemma.txt``).
- the core's ``coco-80-to-imagenet-1k.json`` (:func:`discover_core.coco.imagenet_mapping`): for each COCO-80
  name, the ImageNet classes whose photos show an instance of it (``notes`` explains the judgement calls).

A candidate label matches class *i* when, compared case-insensitively with
runs of blanks/underscores as one space, it is the class name, one of its
synonyms (optional) or a COCO name mapped to *i*. The sources are united:
"kite" matches the bird of prey (class 21) by name while the COCO toy kite
maps to nothing.
"""

from __future__ import annotations

import difflib
import functools
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from discover_core.coco import imagenet_mapping
from discover_core.errors import InputError, PluginError
from discover_core.labelsets import label_list, labels_file

PACKAGE_DIR = Path(__file__).resolve().parent
NUM_CLASSES = 1000


def normalise_label(label: str) -> str:
    """Case-folded, with runs of whitespace and underscores collapsed to one space."""
    return " ".join(label.replace("_", " ").split()).casefold()


def _checked(lines: list[str], what: str) -> list[str]:
    if len(lines) != NUM_CLASSES:
        raise PluginError(f"{what} has {len(lines)} lines, expected {NUM_CLASSES}", "reinstall discover-codec")
    return lines


@dataclass(frozen=True)
class ImagenetClasses:
    """The 1000 class names, their synonyms and the COCO-80 mapping, with lookups."""

    names: tuple[str, ...]
    synonyms: tuple[tuple[str, ...], ...]
    coco: dict[str, tuple[int, ...]]
    _by_name: dict[str, frozenset[int]] = field(init=False, repr=False, compare=False)
    _by_synonym: dict[str, frozenset[int]] = field(init=False, repr=False, compare=False)
    _by_coco: dict[str, frozenset[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def index(pairs: Iterable[tuple[str, int]]) -> dict[str, frozenset[int]]:
            out: dict[str, set[int]] = {}
            for key, i in pairs:
                out.setdefault(normalise_label(key), set()).add(i)
            return {k: frozenset(v) for k, v in out.items()}

        object.__setattr__(self, "_by_name", index((n, i) for i, n in enumerate(self.names)))
        object.__setattr__(
            self, "_by_synonym", index((s, i) for i, syns in enumerate(self.synonyms) for s in syns)
        )
        object.__setattr__(self, "_by_coco", {normalise_label(k): frozenset(v) for k, v in self.coco.items()})

    def vocabulary(self, synonyms: bool = True) -> frozenset[str]:
        """Every label that stands for a class, as :func:`discover_core.interfaces.normalize_label` gives it
        (with underscores, and with them read as spaces)."""
        keys = set(self._by_name) | set(self._by_coco) | (set(self._by_synonym) if synonyms else set())
        return frozenset(keys | {k.replace(" ", "_") for k in keys})

    def classes_for(self, label: str, synonyms: bool = True) -> frozenset[int]:
        """The class indices a candidate label stands for (empty if none)."""
        key = normalise_label(label)
        hits = self._by_name.get(key, frozenset()) | self._by_coco.get(key, frozenset())
        if synonyms:
            hits |= self._by_synonym.get(key, frozenset())
        return hits

    def match(self, labels: Sequence[str], synonyms: bool = True) -> dict[str, frozenset[int]]:
        """Each candidate label that stands for at least one class -> its classes (input order kept)."""
        out: dict[str, frozenset[int]] = {}
        for label in labels:
            if label in out:
                continue
            hits = self.classes_for(label, synonyms)
            if hits:
                out[label] = hits
        return out

    def resolve_target(self, target: Any) -> frozenset[int]:
        """A ground-truth target -> the acceptable class indices.

        A target is a class index, a name (class name, synonym or COCO name),
        or a list/tuple of those (any of them counts).
        """
        if isinstance(target, bool):
            raise InputError(f"target {target!r} is neither a class index nor a class name")
        if isinstance(target, numbers.Integral):
            i = int(target)
            if not 0 <= i < len(self.names):
                raise InputError(f"target class index {i} is outside 0..{len(self.names) - 1}")
            return frozenset({i})
        if isinstance(target, str):
            hits = self.classes_for(target, synonyms=True)
            if not hits:
                close = difflib.get_close_matches(target, self.names, n=3)
                raise InputError(
                    f"target {target!r} is not an ImageNet-1k class name, synonym or COCO-80 name",
                    f"did you mean {', '.join(repr(c) for c in close)}?" if close else "give the class index instead",
                )
            return hits
        if isinstance(target, (list, tuple, set, frozenset)):
            if not target:
                raise InputError("empty list of acceptable targets")
            out: frozenset[int] = frozenset()
            for t in target:
                out |= self.resolve_target(t)
            return out
        raise InputError(f"target {target!r} is neither a class index, a class name nor a list of them")


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> ImagenetClasses:
    """The ImageNet-1k classes (read once per process)."""
    names = _checked(label_list("imagenet-1k"), str(labels_file("imagenet-1k.txt")))
    path = PACKAGE_DIR / "imagenet-1k-synonyms.txt"
    synonym_lines = _checked(path.read_text(encoding="utf-8").splitlines(), str(path))
    synonyms = tuple(tuple(s.strip() for s in line.split(",") if s.strip()) for line in synonym_lines)
    return ImagenetClasses(tuple(names), synonyms, dict(imagenet_mapping()))
