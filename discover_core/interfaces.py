"""The component contracts and the data that flows between components.

Images are ``numpy.ndarray`` of shape ``(H, W, 3)`` and dtype ``uint8`` (RGB)
everywhere. Boxes are ``(x0, y0, x1, y1)`` in pixels of the full image, with
``x1``/``y1`` exclusive.

A component is a class with a kebab-case ``name``, a ``kind``, a pydantic
``Options`` model (``extra="forbid"``, every field described) and a
constructor ``__init__(self, options, context)``. Heavy imports belong in
``__init__`` or later, never at module import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from .errors import ExtraMissingError

KINDS = ("label_source", "grounder", "entropy_model", "composer", "task_head")
"""The five kinds of component, in pipeline order."""

Box = tuple[float, float, float, float]
IntBox = tuple[int, int, int, int]


class Options(BaseModel):
    """Base of every component's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TaskSpec:
    """A machine task: its name (used to tag and extract chunks) and description."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class ImageMeta:
    """What is known about an input image besides its pixels."""

    name: str
    """File name (``chelsea.png``) or another stable identifier."""
    path: Path | None = None
    source_mode: str = "RGB"
    """Pillow mode of the source (``L``, ``RGB``, ``I;16`` ...)."""


@dataclass(frozen=True)
class Region:
    """A grounded, task-related region: a box, its label and a confidence."""

    box: Box
    label: str
    score: float = 1.0

    def int_box(self, width: int, height: int) -> IntBox:
        """The box rounded outwards to whole pixels and clipped to the image."""
        x0, y0, x1, y1 = self.box
        return (
            max(0, min(width, int(np.floor(x0)))),
            max(0, min(height, int(np.floor(y0)))),
            max(0, min(width, int(np.ceil(x1)))),
            max(0, min(height, int(np.ceil(y1)))),
        )


@dataclass(frozen=True)
class Chunk:
    """One independently decodable piece of an encoded image.

    ``side`` chunks (hyperprior, coarse global content) are always sent;
    ``content`` chunks carry task regions and are tagged with the boxes and
    labels they cover, so a task's part of the stream can be cut out without
    re-encoding.
    """

    kind: Literal["side", "content"]
    name: str
    payload: bytes
    labels: tuple[str, ...] = ()
    boxes: tuple[IntBox, ...] = ()
    tasks: tuple[str, ...] = ()


@dataclass
class Encoded:
    """What an entropy model returns: its chunks and the parameters its decoder needs.

    ``params`` must be JSON-serialisable (str, int, float, bool, None, lists,
    dicts); it is stored in the stream header.
    """

    chunks: list[Chunk]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Patch:
    """Decoded pixels of one content chunk, placed at ``box`` in the full image.

    ``mask`` (same height/width as ``pixels``) marks which pixels belong to
    the regions; ``None`` means all of them.
    """

    box: IntBox
    pixels: np.ndarray
    labels: tuple[str, ...] = ()
    mask: np.ndarray | None = None


@dataclass
class Decoded:
    """What an entropy model's decoder hands to a composer.

    ``representation`` names what is inside, so a pipeline can check that its
    composer accepts it: ``"pixels"`` means ``coarse`` (whole image, any
    resolution) and ``patches`` are RGB pixels; learned codecs put other
    representations (latents, masks) into ``extras``.
    """

    size: tuple[int, int]
    """Full image ``(width, height)``."""
    representation: str = "pixels"
    coarse: np.ndarray | None = None
    patches: list[Patch] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """Where and how components run."""

    device: str = "cpu"
    base_dir: Path = Path(".")
    """Relative paths in options are resolved against this (the pipeline file's folder)."""

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


class Component:
    """Base class of all components."""

    name: ClassVar[str]
    kind: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable modules the component needs at build time."""
    extra: ClassVar[str | None] = None
    """The pip extra of discover-codec that installs ``requires``."""

    def __init__(self, options: Options | None = None, context: Context | None = None):
        self.options = options if options is not None else type(self).Options()
        self.context = context or Context()

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Modules in ``requires`` that are not importable here."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def check_requirements(cls) -> None:
        missing = cls.missing_requirements()
        if missing:
            extra = cls.extra or "all"
            raise ExtraMissingError(
                f"{cls.kind.replace('_', ' ')} '{cls.name}' needs {', '.join(missing)}, which is not installed",
                f"pip install 'discover-codec[{extra}]'",
            )


class LabelSource(Component):
    """Task -> candidate labels. Called once per task; the result is reused for every image."""

    kind = "label_source"

    def labels(self, task: TaskSpec) -> list[str]:
        raise NotImplementedError


class Grounder(Component):
    """Image + candidate labels -> regions of the labels present in the image."""

    kind = "grounder"

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        raise NotImplementedError


class EntropyModel(Component):
    """Image + regions -> chunks (side and content), and chunks -> decoded content.

    ``decode`` must accept any subset of the content chunks ``encode`` made
    (the side chunks are always present) and must be deterministic: the same
    image, regions and options give the same bytes.
    """

    kind = "entropy_model"
    produces: ClassVar[str] = "pixels"
    decoder_options: ClassVar[tuple[str, ...] | None] = None
    """The options the decoder needs, recorded in every stream header (``None``: all of them)."""

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        raise NotImplementedError

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk]) -> Decoded:
        raise NotImplementedError


class Composer(Component):
    """Decoded (possibly partial) content -> a full image."""

    kind = "composer"
    accepts: ClassVar[frozenset[str]] = frozenset({"pixels"})

    def compose(self, decoded: Decoded) -> np.ndarray:
        raise NotImplementedError


class TaskHead(Component):
    """A machine-vision model that runs a task on images and scores its predictions.

    ``predict`` returns a JSON-serialisable prediction. ``score`` compares
    predictions on reconstructions with ``references`` (the same head's
    predictions on the original images) and, when given, with ground-truth
    ``targets``; it returns named metrics.
    """

    kind = "task_head"
    task: ClassVar[str] = ""

    def predict(self, image: np.ndarray) -> Any:
        raise NotImplementedError

    def score(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any] | None = None,
        targets: Sequence[Any] | None = None,
    ) -> dict[str, float]:
        raise NotImplementedError


KIND_BASES: dict[str, type[Component]] = {
    "label_source": LabelSource,
    "grounder": Grounder,
    "entropy_model": EntropyModel,
    "composer": Composer,
    "task_head": TaskHead,
}
