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
entropy model, its own options under the recorded ones (e.g. a checkpoint path),
through the one decode path of :mod:`.decoding`.
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
from .decoding import (DecodeOptions, Decoder, compose, composer_for, decode, decode_content, decoder_for,
                       recorded_options)
from .errors import ConfigError, DiscoverError, InputError
from .images import MAX_PIXELS, from_array, load_image
from .interfaces import (Component, Composer, Context, Decoded, EntropyModel, Grounder, ImageMeta, LabelSource,
                         Options, Region, TaskHead, TaskSpec, normalize_label, unique_labels)
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
    @property
    def decoder(self) -> Decoder:
        """This pipeline's :class:`~.decoding.Decoder`: its own composer; for streams of its own entropy model, that
        model's options fill what a stream never records (e.g. a checkpoint path)."""
        own = DecodeOptions(entropy_model=self.resolved.options["entropy_model"].model_dump(),
                            entropy_model_plugin=self._slots["entropy_model"].slot.plugin.split(":")[-1],
                            composer=self._own_composer)
        return Decoder(self.registry, self.context, own)

    def _own_composer(self) -> Composer:
        return self.composer

    def decode(self, stream: Stream | bytes) -> np.ndarray:
        """Compose a full image from a (possibly partial) stream, with this pipeline's composer."""
        return self.decoder.decode(stream)

    def decode_content(self, stream: Stream | bytes) -> Decoded:
        """What the entropy model decodes from a stream, before composition."""
        return self.decoder.decode_content(stream)


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


def load_pipeline(path: str | Path, device: str = "cpu", registry: Registry | None = None, seed: int = 0) -> Pipeline:
    """Read, validate and return a pipeline (components are built when first used)."""
    registry = registry or get_registry()
    return Pipeline(load_config(path, registry), registry, device, seed)


def pipeline_from_dict(data: dict, device: str = "cpu", registry: Registry | None = None,
                       base_dir: Path | None = None, seed: int = 0) -> Pipeline:
    """A pipeline from an in-memory mapping of the same shape as a pipeline file."""
    registry = registry or get_registry()
    return Pipeline(resolve(data, "pipeline", base_dir, registry), registry, device, seed)


__all__ = ["DecodeOptions", "Decoder", "Pipeline", "compose", "composer_for", "decode", "decode_content", "decoder_for",
           "load_pipeline", "pipeline_from_dict", "record", "Options"]
