"""A pipeline: label sources -> grounders -> entropy model -> (stream) -> composer, plus task heads.

This is the one file that shows how the parts fit together::

    pipeline = load_pipeline("examples/pipelines/two-tasks.yaml")
    stream = pipeline.encode(image)                  # the full structured stream, serving every task
    part = stream.extract(task="faces")              # only one task's part, no re-encoding
    picture = pipeline.decode(part)                  # the composer fills in the rest

Encoding: each task's label source gives its candidate labels (once per
pipeline). Each grounder is run once per image with the candidate labels of
all tasks that are in its vocabulary. The entropy model codes the image and
the regions into side and content chunks, and every content chunk is tagged
with every task whose labels it carries.

Decoding needs only the stream: its header names the entropy model and
composer (distribution, version, format version, decoder options, weights
fingerprint). A pipeline decodes with its own composer and, for the same
entropy model, its own options under the recorded ones (e.g. a checkpoint path).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import build as builder
from .bitstream import MAX_BOXES, ComponentRecord, Stream
from .config import ResolvedPipeline, load_config, resolve, set_path, slots
from .errors import ConfigError, DiscoverError, InputError, PluginError, StreamError, WeightsError
from .images import MAX_PIXELS, from_array, load_image
from .interfaces import (Component, Composer, Context, Decoded, EntropyModel, Grounder, ImageMeta, LabelSource,
                         Options, Region, TaskHead, TaskSpec, normalize_label, path_options, unique_labels)
from .plugins import Registry, get_registry

log = logging.getLogger(__name__)

V1_SLOTS = {"label_source": "tasks[0].label_source", "grounder": "grounders[0]"}
"""Slot names of schema 1 files, as :meth:`Pipeline.variant` accepts them, and where they live now."""


class Pipeline:
    """A validated pipeline whose components are built on first use (and shared: see :mod:`.build`)."""

    def __init__(self, resolved: ResolvedPipeline, registry: Registry | None = None, device: str = "cpu",
                 seed: int = 0, cache_dir: Path | None = None):
        self.resolved = resolved
        self.config = resolved.config
        self.registry = registry or get_registry()
        extra = {"cache_dir": cache_dir} if cache_dir is not None else {}
        self.context = Context(device=device, base_dir=resolved.base_dir, seed=seed, **extra)
        self.tasks = [TaskSpec(t.name, t.description) for t in self.config.tasks]
        self._slots = {ref.path: ref for ref in slots(self.config)}

    @property
    def task(self) -> TaskSpec:
        """The first task (the only one of a schema 1 file)."""
        return self.tasks[0]

    # -- variants ----------------------------------------------------------
    def variant(self, **slot_options: dict) -> "Pipeline":
        """A copy with some slots' options updated, e.g. ``variant(entropy_model={"region_quality": 30})``.

        Slots are ``entropy_model``, ``composer``, ``label_source`` and ``grounder`` (the first task's and
        the first grounder), or any slot path (``variant(**{"grounders[1]": {...}})``). Components whose
        options do not change are shared, not built again.
        """
        overrides = {}
        for slot, changes in slot_options.items():
            path = V1_SLOTS.get(slot, slot)
            if path not in self._slots:
                raise ConfigError("pipeline variant", [(slot, "no such slot; slots are: " + ", ".join(
                    ["entropy_model", "composer", "label_source", "grounder"] + sorted(self._slots)))])
            if not isinstance(changes, dict):
                raise ConfigError("pipeline variant", [(slot, "give the options to change as a mapping")])
            merged = {**self._slots[path].slot.options, **changes}
            overrides[f"{path}.options"] = merged
        return self.with_overrides(overrides)

    def with_overrides(self, overrides: dict[str, Any]) -> "Pipeline":
        """A copy with values set by path (``grounders[0].plugin``, ``entropy_model.options.region_quality``)."""
        data = self.resolved.data
        for path, value in overrides.items():
            data = set_path(data, path, value)
        resolved = resolve(data, "pipeline variant", self.resolved.base_dir, self.registry)
        other = Pipeline(resolved, self.registry, self.context.device, self.context.seed, self.context.cache_dir)
        def asked(p: "Pipeline") -> list:
            return [t.model_dump(exclude={"task_heads"}) for t in p.config.tasks]

        if asked(other) == asked(self):
            self.task_labels  # noqa: B018 - asked once, shared by every variant with the same label sources
            for name in ("task_labels", "labels"):
                if name in self.__dict__:
                    other.__dict__[name] = self.__dict__[name]
        return other

    # -- components ----------------------------------------------------------
    def _build(self, path: str) -> Any:
        ref = self._slots[path]
        return builder.build(self.registry, ref.kind, ref.slot.plugin, self.resolved.options[path], self.context)

    @cached_property
    def label_sources(self) -> dict[str, LabelSource]:
        return {t.name: self._build(f"tasks[{i}].label_source") for i, t in enumerate(self.tasks)}

    @cached_property
    def grounders(self) -> list[Grounder]:
        return [self._build(f"grounders[{i}]") for i in range(len(self.config.grounders))]

    @property
    def grounder(self) -> Grounder:
        """The first grounder."""
        return self.grounders[0]

    @property
    def label_source(self) -> LabelSource:
        """The first task's label source."""
        return self.label_sources[self.task.name]

    @cached_property
    def entropy_model(self) -> EntropyModel:
        return self._build("entropy_model")

    @cached_property
    def composer(self) -> Composer:
        return self._build("composer")

    @cached_property
    def heads(self) -> dict[str, list[TaskHead]]:
        """Each task's heads."""
        return {t.name: [self._build(f"tasks[{i}].task_heads[{j}]") for j in range(len(cfg.task_heads))]
                for i, (t, cfg) in enumerate(zip(self.tasks, self.config.tasks))}

    @property
    def task_heads(self) -> list[TaskHead]:
        """Every task's heads, in task order."""
        return [h for t in self.tasks for h in self.heads[t.name]]

    def build_all(self) -> "Pipeline":
        """Build every component now (before a loop, so a failure is reported once, up front)."""
        for path in self._slots:
            self._build(path)
        self.task_labels  # noqa: B018 - asks the label sources once
        return self

    # -- labels ----------------------------------------------------------------
    @cached_property
    def task_labels(self) -> dict[str, list[str]]:
        """Each task's candidate labels: asked once per pipeline, reused for every image."""
        out = {}
        for task in self.tasks:
            source = self.label_sources[task.name]
            labels = builder.call(source, f"giving labels for task '{task.name}'", source.labels, task)
            if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
                raise builder.bug(source, f"giving labels for task '{task.name}'",
                                  TypeError(f"labels() returned {type(labels).__name__}, not a list of strings"))
            unique = unique_labels(labels)
            if not unique:
                raise DiscoverError(f"label source '{source.name}' gave no labels for task '{task.name}'",
                                    f"check its options (`discover plugins show {source.name}`)")
            out[task.name] = unique
        return out

    @cached_property
    def labels(self) -> list[str]:
        """Every task's candidate labels, once each (first spelling wins)."""
        seen: dict[str, str] = {}
        for labels in self.task_labels.values():
            for lab in labels:
                seen.setdefault(normalize_label(lab), lab)
        return list(seen.values())

    def tasks_of(self, labels: Sequence[str]) -> tuple[str, ...]:
        """The tasks (in pipeline order) whose candidate labels include any of ``labels``."""
        wanted = {normalize_label(x) for x in labels}
        return tuple(t for t, labs in self.task_labels.items() if wanted & {normalize_label(x) for x in labs})

    # -- encode ----------------------------------------------------------------
    def ground(self, image: np.ndarray, meta: ImageMeta | None = None) -> list[Region]:
        """Regions of every grounder, each run once with the candidate labels in its vocabulary."""
        image = from_array(image)
        meta = meta or ImageMeta(name="array")
        candidates = self.labels
        regions: list[Region] = []
        for i, grounder in enumerate(self.grounders):
            vocab = type(grounder).vocabulary(self.resolved.options[f"grounders[{i}]"], self.context)
            mine = candidates if vocab is None else [x for x in candidates if normalize_label(x) in vocab]
            if not mine:
                continue
            found = builder.call(grounder, f"grounding {meta.name}", grounder.ground, image, list(mine), meta)
            regions += _checked_regions(grounder, found, mine, image.shape[1], image.shape[0], meta.name)
        return regions

    def encode(self, image: np.ndarray | str | Path, meta: ImageMeta | None = None,
               regions: Sequence[Region] | None = None) -> Stream:
        """Encode one image into a structured stream (grounding it first unless ``regions`` are given)."""
        if isinstance(image, (str, Path)):
            image, meta = load_image(image)
        image = from_array(image)
        meta = meta or ImageMeta(name="array")
        h, w = image.shape[:2]
        if w * h > MAX_PIXELS:
            raise InputError(f"{meta.name} is {w}x{h}; a stream holds at most {MAX_PIXELS} pixels",
                             "split the image into tiles first")
        if regions is None:
            regions = self.ground(image, meta)
        if len(regions) > MAX_BOXES:
            raise InputError(f"{meta.name} has {len(regions)} regions; a stream carries at most {MAX_BOXES}",
                             "raise the grounders' thresholds, or pass fewer regions")
        em = self.entropy_model
        encoded = builder.call(em, f"encoding {meta.name}", em.encode, image, list(regions))
        # A content chunk belongs to every task whose labels it carries; others (e.g. the rest of the
        # picture) are only in the full stream.
        chunks = [dataclasses.replace(c, tasks=self.tasks_of(c.labels)) if c.kind == "content" and c.labels else c
                  for c in encoded.chunks]
        # What the entropy model made must fit a stream that readers accept; if not, that is its bug.
        return builder.call(em, f"encoding {meta.name}", Stream.build, size=(w, h), mode=meta.source_mode,
                            entropy_model=record(em), params=encoded.params, composer=record(self.composer),
                            chunks=chunks, tasks=[t.name for t in self.tasks])

    # -- decode ----------------------------------------------------------------
    def decode(self, stream: Stream | bytes) -> np.ndarray:
        """Compose a full image from a (possibly partial) stream, with this pipeline's composer."""
        return decode(stream, registry=self.registry, context=self.context, composer=self.composer,
                      entropy_model_options=self._own_options("entropy_model", stream))

    def decode_content(self, stream: Stream | bytes) -> Decoded:
        """What the entropy model decodes from a stream, before composition."""
        stream = _as_stream(stream)
        em = decoder_for(stream, self.registry, self.context, self._own_options("entropy_model", stream))
        return decode_content(stream, em)

    def _own_options(self, slot: str, stream: Stream | bytes) -> dict | None:
        """This pipeline's options for ``slot`` if the stream was made by the same plugin (else ``None``)."""
        stream = _as_stream(stream)
        rec = getattr(stream.header, slot)
        if rec.plugin != self._slots[slot].slot.plugin.split(":")[-1]:
            return None
        return self.resolved.options[slot].model_dump()


def _checked_regions(grounder: Grounder, regions: Any, candidates: Sequence[str], w: int, h: int,
                     name: str) -> list[Region]:
    """A grounder's output, checked: finite boxes inside the image, scores in [0, 1], labels among the candidates.

    Labels come back in the candidates' spelling; a box that pokes out of the image by less than a pixel
    (rounding) is clipped. Anything else is a bug of the grounder.
    """
    spelling = {normalize_label(x): x for x in candidates}

    def wrong(why: str) -> None:
        raise builder.bug(grounder, f"grounding {name}", ValueError(why))

    if not isinstance(regions, (list, tuple)):
        wrong(f"ground() returned {type(regions).__name__}, not a list of Region")
    out = []
    for r in regions:
        if not isinstance(r, Region):
            wrong(f"ground() returned {type(r).__name__}, not a Region")
        try:
            box = tuple(float(v) for v in r.box)
        except (TypeError, ValueError):
            box = ()
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            wrong(f"region {r.label!r} has box {r.box!r}; boxes are four finite numbers")
        x0, y0, x1, y1 = box
        if x0 < -1 or y0 < -1 or x1 > w + 1 or y1 > h + 1 or x1 <= x0 or y1 <= y0:
            wrong(f"region {r.label!r} has box {r.box!r}, which is empty or outside the {w}x{h} image")
        score = float(r.score) if isinstance(r.score, (int, float, np.number)) else float("nan")
        if not 0.0 <= score <= 1.0:
            wrong(f"region {r.label!r} has score {r.score!r}; scores are in [0, 1]")
        label = spelling.get(normalize_label(r.label)) if isinstance(r.label, str) else None
        if label is None:
            wrong(f"region label {r.label!r} is not one of the candidate labels it was given")
        out.append(Region((max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)), label, score))
    return out


# -- stream records ----------------------------------------------------------------
def record(component: Component) -> ComponentRecord:
    """How a stream records a component: who provided it, its format version, decoder options, weights.

    Only decoder options that differ from the component's ``Options`` defaults are recorded: decoding
    validates the recorded ones over those defaults. (So a component that changes the default of a decoder
    option must bump its ``format_version``, as for any change in what its streams mean.)
    """
    reg = builder.registration(component)
    cls = type(component)
    options = component.options.model_dump(mode="json")
    keep = recorded_options(cls)
    try:
        defaults = cls.Options().model_dump(mode="json")
    except ValueError:  # an option without a default (pydantic's ValidationError is a ValueError)
        defaults = {}
    options = {k: v for k, v in options.items() if k in keep
               and not (k in defaults and type(defaults[k]) is type(v) and defaults[k] == v)}
    weights = builder.call(component, "fingerprinting its weights", component.weights_fingerprint)
    return ComponentRecord(plugin=cls.name, provider=reg.plugin if reg else "",
                           distribution=reg.distribution if reg else cls.distribution,
                           version=reg.version if reg else "", format_version=cls.format_version,
                           options=options, weights=weights)


def _registration_for(registry: Registry, kind: str, rec: ComponentRecord):
    qualified = f"{rec.provider}:{rec.plugin}" if rec.provider else ""
    if qualified and qualified in registry.components[kind]:
        return registry.components[kind][qualified]
    if rec.plugin in registry.components[kind] or (kind, rec.plugin) in registry.ambiguous:
        return registry.get(kind, rec.plugin)
    who = f"{rec.distribution} {rec.version}".strip() or "a distribution that is not installed"
    raise PluginError(f"the stream was written by {kind.replace('_', ' ')} '{rec.plugin}' from {who}, which is "
                      f"not installed here",
                      f"pip install '{rec.distribution}'" if rec.distribution else registry.unknown_hint(kind))


def _build_from_record(registry: Registry, kind: str, rec: ComponentRecord, context: Context,
                       base: dict | None = None, override: dict | None = None) -> Component:
    """A component as the stream records it: ``base`` options, the recorded ones over them, ``override`` last."""
    reg = _registration_for(registry, kind, rec)
    cls = reg.cls
    label = kind.replace("_", " ")
    named_files = sorted(set(rec.options) & path_options(cls.Options))
    if named_files:
        raise StreamError(f"the stream's {label} options name files ({', '.join(named_files)}); a stream may "
                          f"never name a file to read", "the stream was crafted or written by a faulty encoder")
    allowed = cls.decoder_options
    foreign = sorted(set(rec.options) - set(allowed)) if allowed is not None else []
    if foreign:
        raise StreamError(f"the stream's {label} options set {', '.join(foreign)}, which a stream may not set "
                          f"('{rec.plugin}' reads only {', '.join(allowed) or 'none'} from a stream; the rest comes "
                          f"from the decoder's own options and weights)",
                          "the stream was crafted or written by a faulty encoder")
    if not cls.reads(rec.format_version):
        lo, hi = cls.reads_format_versions or (cls.format_version, cls.format_version)
        raise StreamError(f"the stream's {label} '{rec.plugin}' wrote format {rec.format_version}; the installed "
                          f"{reg.distribution} {reg.version} reads formats {lo}-{hi}",
                          f"install the version that wrote it: pip install '{rec.distribution or reg.distribution}"
                          f"=={rec.version}'" if rec.version else "install the version that wrote it")
    if rec.version and rec.version != reg.version:
        log.info("stream was written with %s %s %s; decoding with %s", kind, rec.plugin, rec.version, reg.version)
    # A decoder option comes from the stream alone (a stream leaves out those equal to the defaults), never
    # from the decoding pipeline's own options: ``base`` only fills what a stream never records (file paths).
    options = {**{k: v for k, v in (base or {}).items() if k not in recorded_options(cls)}, **rec.options,
               **(override or {})}
    from pydantic import ValidationError

    try:
        opts = cls.Options.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if override and any(str(p) in override for p in first["loc"]):
            from .config import _pydantic_problems

            raise ConfigError(f"decode-time {label} options",
                              _pydantic_problems(exc, "", list(cls.Options.model_fields)),
                              f"`discover plugins show {rec.plugin}` lists its options") from None
        raise StreamError(f"the stream's {label} options do not fit the installed '{rec.plugin}' {reg.version}: "
                          f"{where}: {first['msg']}",
                          f"install the version that wrote it ({rec.version})" if rec.version else None) from None
    component = builder.build(registry, kind, reg.qualified, opts, context)
    if rec.weights:
        have = builder.call(component, "fingerprinting its weights", component.weights_fingerprint)
        if have != rec.weights:
            raise WeightsError(f"the stream was written by {label} '{rec.plugin}' with weights {rec.weights}, but "
                               f"the weights here are {have or '(none)'}",
                               "decode with the weights that wrote the stream (the same checkpoint file)")
    return component


def recorded_options(cls) -> set[str]:
    """The options a stream records for a component class (those equal to the defaults are left out)."""
    keep = cls.decoder_options
    return (set(keep) if keep is not None else set(cls.Options.model_fields)) - path_options(cls.Options)


def decoder_for(stream: Stream, registry: Registry, context: Context, base: dict | None = None,
                override: dict | None = None) -> EntropyModel:
    """The entropy model that decodes ``stream``, as its header records it."""
    if override:
        cls = _registration_for(registry, "entropy_model", stream.header.entropy_model).cls
        recorded = recorded_options(cls) & set(override)
        if recorded:
            raise ConfigError("decode-time entropy model options", [(k, "recorded in the stream; the decoder must "
                                                                        "use the stream's value") for k in recorded])
    return _build_from_record(registry, "entropy_model", stream.header.entropy_model, context, base, override)


def decode_content(stream: Stream, em: EntropyModel) -> Decoded:
    """The entropy model's decode of ``stream``, with the tasks and labels of the chunks that arrived."""
    fmt = stream.header.entropy_model.format_version
    decoded = builder.call(em, "decoding a stream", em.decode, stream.size, stream.header.params, stream.chunks, fmt)
    if not isinstance(decoded, Decoded) or tuple(decoded.size) != tuple(stream.size):
        raise builder.bug(em, "decoding a stream", TypeError(
            f"decode() returned {type(decoded).__name__} of size {getattr(decoded, 'size', None)}, expected "
            f"Decoded of size {stream.size}"))
    content = [c for c in stream.chunks if c.kind == "content"]
    return dataclasses.replace(decoded, tasks=tuple(dict.fromkeys(t for c in content for t in c.tasks)),
                               labels=tuple(dict.fromkeys(lab for c in content for lab in c.labels)))


def compose(decoded: Decoded, composer: Composer) -> np.ndarray:
    """The composer's picture of ``decoded``, checked."""
    space = decoded.latent.space if decoded.latent is not None else None
    if not type(composer).can_compose(decoded.representation, space):
        raise DiscoverError(f"composer '{composer.name}' cannot compose what was decoded ('{decoded.representation}'"
                            + (f", latent space '{space}'" if space else "") + ")",
                            "choose a composer that accepts it (`discover plugins --kind composer`)")
    w, h = decoded.size
    composer.context.require_memory(type(composer).bytes_per_pixel * w * h,
                                    f"composing this {w}x{h} picture with '{composer.name}'")
    image = builder.call(composer, "composing a picture", composer.compose, decoded)
    if not isinstance(image, np.ndarray) or image.shape != (h, w, 3) or image.dtype != np.uint8:
        raise builder.bug(composer, "composing a picture", TypeError(
            f"compose() returned {getattr(image, 'shape', type(image).__name__)} {getattr(image, 'dtype', '')}, "
            f"expected ({h}, {w}, 3) uint8"))
    return image


def composer_for(stream: Stream, registry: Registry, context: Context, name: str | None = None,
                 options: dict | None = None) -> Composer:
    """The composer the stream records, or ``name`` with ``options`` (decode-time options win)."""
    rec = stream.header.composer
    if name is None or name.split(":")[-1] == rec.plugin:
        return _build_from_record(registry, "composer", rec, context, override=options)
    reg = registry.get("composer", name)
    from pydantic import ValidationError

    try:
        opts = reg.cls.Options.model_validate(options or {})
    except ValidationError as exc:
        from .config import _pydantic_problems

        raise ConfigError(f"composer '{name}' options", _pydantic_problems(exc, "", list(reg.cls.Options.model_fields)),
                          f"`discover plugins show {name}` lists its options") from None
    return builder.build(registry, "composer", name, opts, context)


def _as_stream(stream: Stream | bytes) -> Stream:
    return stream if isinstance(stream, Stream) else Stream.from_bytes(stream)


def decode(stream: Stream | bytes, registry: Registry | None = None, device: str = "cpu",
           composer: Composer | str | None = None, composer_options: dict | None = None,
           entropy_model_options: dict | None = None, context: Context | None = None) -> np.ndarray:
    """Decode a stream using only what its header records (no pipeline file needed).

    ``composer`` overrides the recorded composer (a built one, or a name built with ``composer_options``);
    ``composer_options`` set decode-time options (steps, seed, device ...) of the recorded one.
    ``entropy_model_options`` add options the stream does not record (e.g. a checkpoint path).
    """
    registry = registry or get_registry()
    stream = _as_stream(stream)
    context = context or Context(device=device)
    em = decoder_for(stream, registry, context, base=entropy_model_options)
    comp = composer if isinstance(composer, Composer) else composer_for(stream, registry, context, composer,
                                                                         composer_options)
    return compose(decode_content(stream, em), comp)


def load_pipeline(path: str | Path, device: str = "cpu", registry: Registry | None = None, seed: int = 0) -> Pipeline:
    """Read, validate and return a pipeline (components are built when first used)."""
    registry = registry or get_registry()
    return Pipeline(load_config(path, registry), registry, device, seed)


def pipeline_from_dict(data: dict, device: str = "cpu", registry: Registry | None = None,
                       base_dir: Path | None = None, seed: int = 0) -> Pipeline:
    """A pipeline from an in-memory mapping of the same shape as a pipeline file."""
    registry = registry or get_registry()
    return Pipeline(resolve(data, "pipeline", base_dir, registry), registry, device, seed)


__all__ = ["Pipeline", "compose", "composer_for", "decode", "decode_content", "decoder_for", "load_pipeline",
           "pipeline_from_dict", "record", "Options"]
