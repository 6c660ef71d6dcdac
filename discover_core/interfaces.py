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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from . import budget
from .errors import DiscoverError, ExtraMissingError

KINDS = ("label_source", "grounder", "entropy_model", "composer", "task_head")
"""The five kinds of component, in pipeline order."""

Box = tuple[float, float, float, float]
IntBox = tuple[int, int, int, int]


class Options(BaseModel):
    """Base of every component's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PATH_OPTION = {"discover_path": True}
"""``json_schema_extra`` of an option that names a file or folder: ``Field(..., json_schema_extra=PATH_OPTION)``.

Such options are read only from pipeline files and decode-time options, never from a stream header."""


def path_options(options_model: type[BaseModel]) -> frozenset[str]:
    """The names of an ``Options`` model's fields marked with :data:`PATH_OPTION`."""
    return frozenset(name for name, f in options_model.model_fields.items()
                     if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("discover_path"))


def normalize_label(label: str) -> str:
    """The form in which labels are compared everywhere: whitespace collapsed, case folded."""
    return " ".join(str(label).split()).casefold()


def unique_labels(labels: Sequence[str]) -> list[str]:
    """``labels`` stripped, without empty ones and repeats (compared normalised), first spelling kept, in order."""
    seen: dict[str, str] = {}
    for lab in labels:
        text = " ".join(str(lab).split())
        if text:
            seen.setdefault(text.casefold(), text)
    return list(seen.values())


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
class Latent:
    """A latent-space representation of the whole image, as a learned decoder hands it on.

    ``values`` is a float32 array ``(channels, h, w)`` at ``stride`` image
    pixels per position (``h == ceil(H / stride)``, ``w == ceil(W / stride)``);
    ``arrived`` (``(h, w)`` bool) marks the positions whose content chunk
    arrived (the others hold what the side information predicts). ``space``
    names what the latent is, so a composer can check it can use it (for
    example ``"sd-vae"``: the latent of a Stable Diffusion VAE, unscaled).
    """

    values: np.ndarray
    stride: int
    arrived: np.ndarray
    space: str

    @property
    def channels(self) -> int:
        return int(self.values.shape[0])


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

    def paste_onto(self, canvas: np.ndarray) -> None:
        """Copy the patch's pixels (only the masked ones, when there is a mask) into ``canvas`` at its box."""
        x0, y0, x1, y1 = self.box
        if self.pixels.shape[:2] != (y1 - y0, x1 - x0):
            raise ValueError(f"patch of shape {self.pixels.shape[:2]} does not fit its box {self.box}")
        region = canvas[y0:y1, x0:x1]
        if self.mask is None:
            region[...] = self.pixels
        else:
            np.copyto(region, self.pixels, where=self.mask[:, :, None])


REPRESENTATIONS = ("pixels", "latent")
"""What a decoder can hand to a composer (see :class:`Decoded`)."""


@dataclass
class Decoded:
    """What an entropy model's decoder hands to a composer.

    ``representation`` names what is inside, so a pipeline can check that its
    composer accepts it:

    * ``"pixels"``: ``coarse`` (the whole image at any resolution, RGB uint8)
      and ``patches`` (RGB pixels of the content that arrived);
    * ``"latent"``: ``latent`` (a :class:`Latent` of the whole image).

    The pipeline fills in ``tasks`` and ``labels`` (those of the content
    chunks that arrived); the entropy model fills in ``missing``: an ``(H, W)``
    bool mask of the image area for which no content arrived (``None``:
    everything arrived), so a composer can condition on it.
    """

    size: tuple[int, int]
    """Full image ``(width, height)``."""
    representation: Literal["pixels", "latent"] = "pixels"
    coarse: np.ndarray | None = None
    patches: Sequence[Patch] = field(default_factory=list)
    """Read-only for composers (a decoder may hand a lazy sequence that decodes each patch when asked)."""
    latent: Latent | None = None
    missing: np.ndarray | None = None
    tasks: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


def default_cache_dir() -> Path:
    """``$DISCOVER_CACHE_DIR``, else the platform's cache folder (``~/.cache/discover`` on Linux)."""
    env = os.environ.get("DISCOVER_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "discover" / "Cache"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Caches" / "discover"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "discover"


@dataclass(frozen=True)
class Context:
    """Where and how components run: device, seed, the folder relative paths start from, the cache folder."""

    device: str = "cpu"
    base_dir: Path = Path(".")
    """Relative paths in options are resolved against this (the pipeline file's folder)."""
    seed: int = 0
    """Seed for anything random (sampling, dropout at test time); the same seed gives the same output."""
    cache_dir: Path = field(default_factory=default_cache_dir)
    """Where components keep what they compute once (label lists, fingerprints, fetched model files)."""
    max_memory: int = field(default_factory=budget.default_budget)
    """Bytes a decoder's estimated working set may take (:mod:`discover_core.budget`); above it the decode is
    refused before anything is allocated."""

    def require_memory(self, need: float, what: str) -> None:
        """Refuse ``what`` with a :class:`discover_core.budget.MemoryBudgetError` if it needs more than
        :attr:`max_memory` bytes."""
        budget.require(self.max_memory, need, what)

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def cache(self, *parts: str) -> Path:
        """A folder under the cache folder (created)."""
        path = self.cache_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def secret(env_var: str, what: str = "an API key") -> str:
        """The value of the environment variable ``env_var``; secrets never come from files or streams.

        The error names the variable, never a value.
        """
        value = os.environ.get(env_var, "")
        if not value.strip():
            raise DiscoverError(f"{what} is expected in the environment variable {env_var}, which is not set",
                                f"export {env_var}=... (the pipeline names the variable, never the key)")
        return value


class Component:
    """Base class of all components."""

    name: ClassVar[str]
    kind: ClassVar[str]
    Options: ClassVar[type[Options]] = Options
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable modules the component needs at build time."""
    extra: ClassVar[str | None] = None
    """The pip extra that installs ``requires``, of the distribution that provides the component
    (``llm`` in ``discover-saliency[llm]``); the registry fills in the distribution."""
    distribution: ClassVar[str] = "discover-codec"
    """Set by the registry to the distribution that registered the component."""
    format_version: ClassVar[int] = 1
    """Version of what the component writes into streams (payloads, params), independent of the package
    version: bump it when an old decoder could no longer read what the encoder writes."""
    reads_format_versions: ClassVar[tuple[int, int] | None] = None
    """The inclusive range of ``format_version`` s its decoder reads (``None``: only its own)."""
    decoder_options: ClassVar[tuple[str, ...] | None] = None
    """Stream components (entropy models, composers): the options recorded in every stream header, that a
    decoder must use (``None``: all of them). The others (device, batch size, sampling steps, seed, paths)
    are decode-time options, not recorded."""
    model_files: ClassVar[tuple[Any, ...]] = ()
    """Model files the component can fetch (:class:`discover_core.weights.ModelFiles`), listed and fetched
    by ``discover models``."""

    def __init__(self, options: Options | None = None, context: Context | None = None):
        self.options = options if options is not None else type(self).Options()
        self.context = context or Context()

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def reads(cls, version: int) -> bool:
        """Whether the decoder reads what ``format_version`` ``version`` wrote."""
        lo, hi = cls.reads_format_versions or (cls.format_version, cls.format_version)
        return lo <= version <= hi

    def weights_fingerprint(self) -> str | None:
        """``sha256:...`` of the weights the output depends on (:func:`discover_core.weights.fingerprint`),
        or ``None`` when it has none. Recorded in streams; a decoder with other weights is refused."""
        return None

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Modules in ``requires`` that are not importable here."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def check_requirements(cls) -> None:
        missing = cls.missing_requirements()
        if missing:
            raise ExtraMissingError(
                f"{cls.kind.replace('_', ' ')} '{cls.name}' needs {', '.join(missing)}, which is not installed",
                f"pip install {cls.install_hint()}",
            )

    @classmethod
    def install_hint(cls) -> str:
        """What to ``pip install`` for ``requires``: ``'dist[extra]'`` of the providing distribution."""
        return f"'{cls.distribution}[{cls.extra}]'" if cls.extra else f"'{cls.distribution}' with its dependencies"


class LabelSource(Component):
    """Task -> candidate labels. Called once per task; the result is reused for every image."""

    kind = "label_source"

    @classmethod
    def known_labels(cls, options: Options, context: Context) -> list[str] | None:
        """The labels, if they are known without asking a model (static lists); ``None`` otherwise.

        Used by ``discover validate`` for cross-slot checks; must be cheap and never touch the network."""
        return None

    def labels(self, task: TaskSpec) -> list[str]:
        raise NotImplementedError


class Grounder(Component):
    """Image + candidate labels -> regions of the labels present in the image."""

    kind = "grounder"

    @classmethod
    def vocabulary(cls, options: Options, context: Context) -> frozenset[str] | None:
        """The labels (normalised, :func:`normalize_label`) it can ever return; ``None``: open vocabulary.

        A pipeline hands each grounder only the candidate labels in its vocabulary (and skips a grounder
        none of whose labels is wanted). Cheap: no model is built."""
        return None

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        """Regions whose ``label`` is one of ``labels`` (compared with :func:`normalize_label`),
        boxes finite and inside the image, scores in [0, 1]."""
        raise NotImplementedError


class EntropyModel(Component):
    """Image + regions -> chunks (side and content), and chunks -> decoded content.

    ``decode`` must accept any subset of the content chunks ``encode`` made
    (the side chunks are always present) and must be deterministic: the same
    image, regions and options give the same bytes.
    """

    kind = "entropy_model"
    produces: ClassVar[str] = "pixels"
    """The representation its decoder hands on (one of :data:`REPRESENTATIONS`); see :meth:`produces_for`."""
    latent_space: ClassVar[str | None] = None
    """For ``"latent"``: the :attr:`Latent.space` it produces."""

    @classmethod
    def produces_for(cls, options: Options) -> tuple[str, str | None]:
        """``(representation, latent space)`` decoded with these options (override when an option picks it)."""
        return cls.produces, cls.latent_space

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        raise NotImplementedError

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int) -> Decoded:
        """Decode any subset of the chunks ``encode`` made (side chunks always present).

        ``format_version`` is the :attr:`format_version` of the encoder that wrote the stream (one that
        :meth:`reads`). A payload that cannot be read raises :class:`discover_core.errors.PayloadError`;
        anything else raised here is treated as a bug of the plugin.
        """
        raise NotImplementedError


class Composer(Component):
    """Decoded (possibly partial) content -> a full image."""

    kind = "composer"
    accepts: ClassVar[frozenset[str]] = frozenset({"pixels"})
    """Representations it composes (of :data:`REPRESENTATIONS`)."""
    latent_spaces: ClassVar[frozenset[str] | None] = None
    """For ``"latent"``: the :attr:`Latent.space` s it understands (``None``: any)."""
    bytes_per_pixel: ClassVar[float] = 12.0
    """Its working set per pixel of the canvas (the picture, an upscaled background, masks): checked against
    the memory budget before composing (``paste`` measured 11 bytes on a 4096x65535 canvas)."""

    @classmethod
    def can_compose(cls, representation: str, latent_space: str | None) -> bool:
        if representation not in cls.accepts:
            return False
        return representation != "latent" or cls.latent_spaces is None or latent_space in cls.latent_spaces

    def compose(self, decoded: Decoded) -> np.ndarray:
        raise NotImplementedError

    def compose_batch(self, batch: Sequence[Decoded]) -> list[np.ndarray]:
        """Compose several decodes at once (generative composers batch them); default: one by one."""
        return [self.compose(d) for d in batch]

    training_term: ClassVar[str | None] = None
    """The name of the loss term :meth:`make_training_term` gives ``discover train`` (``None``: none), so a
    codec is trained for this composer without the trainer importing it (found through the registry)."""

    @classmethod
    def make_training_term(cls, options: dict[str, Any], context: "Context", device: str) -> Callable[..., Any]:
        """Optional: ``term(out, x) -> loss tensor`` for training a codec whose decodes this composer composes."""
        raise NotImplementedError(f"composer '{cls.name}' has no training term")


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

    provides_features: ClassVar[bool] = False
    """Whether :meth:`image_features` is implemented (a head that can stand in for Inception-v3 in FID / KID)."""

    def image_features(self, images: np.ndarray) -> np.ndarray:
        """Optional: ``(N, H, W, 3)`` uint8 images -> ``(N, D)`` float64 image features (e.g. a pooled feature map).

        Heads that implement it set :attr:`provides_features`; the perception metrics find them through the
        registry (``features: proxy:<backbone>``), so no core module imports a plugin.
        """
        raise NotImplementedError(f"task head '{self.name}' does not provide image features")


KIND_BASES: dict[str, type[Component]] = {
    "label_source": LabelSource,
    "grounder": Grounder,
    "entropy_model": EntropyModel,
    "composer": Composer,
    "task_head": TaskHead,
}
