"""A pipeline: label source -> grounder -> entropy model -> (stream) -> composer, plus task heads.

This is the one file that shows how the parts fit together::

    pipeline = load_pipeline("examples/pipelines/default.yaml")
    stream = pipeline.encode(image)                  # the full structured stream
    part = stream.extract(task="classification")    # only the task's part, no re-encoding
    picture = pipeline.decode(part)                  # composer fills in the rest
"""

from __future__ import annotations

import dataclasses
import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic import ValidationError

from .bitstream import MAX_SIDE, ComponentRecord, Stream
from .config import SLOT_KINDS, ResolvedPipeline, load_config, resolve
from .errors import DiscoverError, InputError, StreamError
from .images import from_array, load_image
from .interfaces import (Component, Composer, Context, EntropyModel, Grounder, ImageMeta, LabelSource, Region,
                         TaskHead, TaskSpec)
from .plugins import Registry, get_registry

log = logging.getLogger(__name__)


def _build(registry: Registry, kind: str, name: str, options, context: Context) -> Any:
    cls = registry.get(kind, name).cls
    cls.check_requirements()
    return cls(options, context)


def _record(component: Component, registry: Registry) -> ComponentRecord:
    reg = registry.get(component.kind, component.name)
    options = component.options.model_dump(mode="json")
    keep = getattr(component, "decoder_options", None)
    if keep is not None:
        options = {k: v for k, v in options.items() if k in keep}
    return ComponentRecord(plugin=component.name, version=reg.version, options=options)


class Pipeline:
    """A validated pipeline whose components are built on first use."""

    def __init__(self, resolved: ResolvedPipeline, registry: Registry | None = None, device: str = "cpu"):
        self.resolved = resolved
        self.config = resolved.config
        self.registry = registry or get_registry()
        self.context = Context(device=device, base_dir=resolved.base_dir)
        self.task = TaskSpec(self.config.task.name, self.config.task.description)

    def variant(self, **slot_options: dict) -> "Pipeline":
        """A copy with some slots' options updated, e.g. ``variant(entropy_model={"region_quality": 30})``.

        Components whose options do not change are shared, not built again.
        """
        from .config import validate_options

        updated = dict(self.resolved.options)
        problems = []
        for slot, changes in slot_options.items():
            kind = SLOT_KINDS[slot]
            merged = {**updated[slot].model_dump(), **changes}
            opts, errs = validate_options(self.registry, kind, getattr(self.config, slot).plugin, merged, slot)
            problems += errs
            updated[slot] = opts
        if problems:
            from .errors import ConfigError
            raise ConfigError("pipeline variant", problems)
        other = Pipeline(self.resolved.model_copy(update={"options": updated}), self.registry, self.context.device)
        for name in ("label_source", "grounder", "entropy_model", "composer", "task_heads", "labels"):
            changed = name in slot_options or (name == "labels" and "label_source" in slot_options)
            if not changed and name in self.__dict__:
                other.__dict__[name] = self.__dict__[name]
        return other

    def _slot(self, slot: str) -> Any:
        return _build(self.registry, SLOT_KINDS[slot], getattr(self.config, slot).plugin,
                      self.resolved.options[slot], self.context)

    @cached_property
    def label_source(self) -> LabelSource:
        return self._slot("label_source")

    @cached_property
    def grounder(self) -> Grounder:
        return self._slot("grounder")

    @cached_property
    def entropy_model(self) -> EntropyModel:
        return self._slot("entropy_model")

    @cached_property
    def composer(self) -> Composer:
        return self._slot("composer")

    @cached_property
    def task_heads(self) -> list[TaskHead]:
        return [_build(self.registry, "task_head", slot.plugin, opts, self.context)
                for slot, opts in zip(self.config.task_heads, self.resolved.head_options)]

    @cached_property
    def labels(self) -> list[str]:
        """The task's candidate labels: asked once per pipeline, reused for every image."""
        labels = self.label_source.labels(self.task)
        if not labels:
            raise DiscoverError(f"label source '{self.label_source.name}' gave no labels for task '{self.task.name}'",
                                "check its options (`discover plugins show " + self.label_source.name + "`)")
        return list(dict.fromkeys(labels))

    # -- encode ----------------------------------------------------------
    def ground(self, image: np.ndarray, meta: ImageMeta | None = None) -> list[Region]:
        image = from_array(image)
        meta = meta or ImageMeta(name="array")
        return list(self.grounder.ground(image, self.labels, meta))

    def encode(self, image: np.ndarray | str | Path, meta: ImageMeta | None = None,
               regions: Sequence[Region] | None = None) -> Stream:
        """Encode one image into a structured stream (grounding it first unless ``regions`` are given)."""
        if isinstance(image, (str, Path)):
            image, meta = load_image(image)
        image = from_array(image)
        meta = meta or ImageMeta(name="array")
        if max(image.shape[:2]) > MAX_SIDE:
            raise InputError(f"{meta.name} is {image.shape[1]}x{image.shape[0]}; a stream holds at most "
                             f"{MAX_SIDE} pixels a side", "split the image into tiles first")
        if regions is None:
            regions = self.ground(image, meta)
        encoded = self.entropy_model.encode(image, list(regions))
        # Content chunks that carry task regions (labels) belong to the task; others (e.g. the rest
        # of the picture) are only in the full stream.
        chunks = [dataclasses.replace(c, tasks=(self.task.name,)) if c.kind == "content" and c.labels else c
                  for c in encoded.chunks]
        h, w = image.shape[:2]
        return Stream.build(size=(w, h), mode=meta.source_mode,
                            entropy_model=_record(self.entropy_model, self.registry), params=encoded.params,
                            composer=_record(self.composer, self.registry), chunks=chunks,
                            tasks=(self.task.name,))

    # -- decode ----------------------------------------------------------
    def decode(self, stream: Stream | bytes) -> np.ndarray:
        """Compose a full image from a (possibly partial) stream."""
        stream = stream if isinstance(stream, Stream) else Stream.from_bytes(stream)
        same = (stream.header.entropy_model == _record(self.entropy_model, self.registry)
                and stream.header.composer.plugin == self.composer.name)
        if not same:  # the stream says how it was made; that wins over this pipeline's file
            return decode(stream, registry=self.registry, device=self.context.device, composer=self.composer)
        return _decode_with(stream, self.entropy_model, self.composer)


def _decode_with(stream: Stream, entropy_model: EntropyModel, composer: Composer) -> np.ndarray:
    try:
        decoded = entropy_model.decode(stream.size, stream.header.params, stream.chunks)
        image = composer.compose(decoded)
    except DiscoverError:
        raise
    except Exception as exc:  # a payload that passed its checksum but is not what the header claims
        raise StreamError(f"the stream could not be decoded by '{entropy_model.name}' + '{composer.name}': "
                          f"{type(exc).__name__}: {exc}",
                          "the stream was written by a different or faulty encoder; encode the image again") from exc
    w, h = stream.size
    if image.shape != (h, w, 3) or image.dtype != np.uint8:
        raise StreamError(f"composer '{composer.name}' returned an image of shape {image.shape} {image.dtype}, "
                          f"expected ({h}, {w}, 3) uint8", "this is a bug in that composer plugin")
    return image


def _from_record(registry: Registry, kind: str, record: ComponentRecord, context: Context) -> Any:
    reg = registry.get(kind, record.plugin)
    if record.version and reg.version != record.version:
        log.warning("stream was written with %s %s %s; decoding with %s", kind, record.plugin,
                    record.version, reg.version)
    try:
        options = reg.cls.Options.model_validate(record.options)
    except ValidationError as exc:
        raise StreamError(f"the stream's {kind.replace('_', ' ')} options do not fit the installed "
                          f"'{record.plugin}' {reg.version}: {exc.errors()[0]['msg']}",
                          f"install the version that wrote it ({record.version})") from None
    return _build(registry, kind, record.plugin, options, context)


def decode(stream: Stream | bytes, registry: Registry | None = None, device: str = "cpu",
           composer: Composer | None = None) -> np.ndarray:
    """Decode a stream using only what its header records (no pipeline file needed).

    ``composer`` overrides the recorded composer (e.g. a generative one instead of ``paste``).
    """
    registry = registry or get_registry()
    stream = stream if isinstance(stream, Stream) else Stream.from_bytes(stream)
    context = Context(device=device)
    em = _from_record(registry, "entropy_model", stream.header.entropy_model, context)
    comp = composer or _from_record(registry, "composer", stream.header.composer, context)
    if em.produces not in comp.accepts:
        raise DiscoverError(f"composer '{comp.name}' cannot compose what '{em.name}' decodes ('{em.produces}')",
                            "choose a composer that accepts it (`discover plugins --kind composer`)")
    return _decode_with(stream, em, comp)


def load_pipeline(path: str | Path, device: str = "cpu", registry: Registry | None = None) -> Pipeline:
    """Read, validate and return a pipeline (components are built when first used)."""
    registry = registry or get_registry()
    return Pipeline(load_config(path, registry), registry, device)


def pipeline_from_dict(data: dict, device: str = "cpu", registry: Registry | None = None,
                       base_dir: Path | None = None) -> Pipeline:
    """A pipeline from an in-memory mapping of the same shape as a pipeline file."""
    registry = registry or get_registry()
    return Pipeline(resolve(data, "pipeline", base_dir, registry), registry, device)

