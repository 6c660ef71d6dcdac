"""The label lists and label tables that ship with discover, in ``discover_core/data/labels``.

- ``coco-80.txt``: COCO's 80 categories, in the standard order (torchvision's, ``src/object/labels.ts`` of
  ``@vladmandic/human``); the ``coco-80`` preset of the ``static`` label source.
- ``imagenet-1k.txt``: ImageNet-1k's 1000 classes in index order (torchvision's ``categories``); the
  ``imagenet-1k`` preset.
- ``coco-80-aliases.json``, ``coco-80-to-imagenet-1k.json``: the tables of :mod:`discover_core.coco`.

They live in the core because several plugins read them (the ``static`` presets, the ``imagenet`` classes,
the COCO-80 vocabulary of the detectors); no plugin reads another plugin's files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import PluginError

LABEL_LISTS = ("coco-80", "imagenet-1k")
"""The shipped label lists (``<name>.txt``)."""


def labels_file(file_name: str) -> Path:
    """The path of a file in ``discover_core/data/labels`` (a :class:`PluginError` when the install lacks it)."""
    path = Path(str(resources.files(__package__).joinpath("data", "labels", file_name)))
    if not path.is_file():
        raise PluginError(f"the label file {file_name} is missing from {path.parent}",
                          "reinstall discover-codec; the file ships with its core")
    return path


def label_list(name: str) -> list[str]:
    """The labels of a shipped list (``coco-80``, ``imagenet-1k``): one per line; ``#`` comments, blanks skipped."""
    if name not in LABEL_LISTS:
        raise ValueError(f"no shipped label list {name!r} (there are {', '.join(LABEL_LISTS)})")
    return parse_label_lines(labels_file(f"{name}.txt").read_text(encoding="utf-8"))


def parse_label_lines(text: str) -> list[str]:
    """The labels of a text with one per line (``#`` starts a comment; blank lines are skipped)."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out
