"""The one decode path: a stream's entropy model and composer, as its header records them, and their options.

:class:`Decoder` is what :meth:`discover_core.Pipeline.decode`, :func:`discover_core.decode` and ``discover
decode`` all use; :class:`DecodeOptions` is the one layering of options: the decoding side's own base options
(only what a stream never records, e.g. a checkpoint path) < the options the stream records < decode-time
options. Decoding needs only the stream: its header names the entropy model and composer (distribution,
version, format version, decoder options, weights fingerprint).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from . import build as builder
from .bitstream import ComponentRecord, Stream
from .errors import ConfigError, DiscoverError, PluginError, StreamError, WeightsError
from .interfaces import Component, Composer, Context, Decoded, EntropyModel, path_options
from .plugins import Registry, get_registry

log = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """What a decode adds to a stream's records, layered one way: for each slot, the decoding side's own
    ``base`` options (only what a stream never records, e.g. a checkpoint path) < the options the stream
    records < decode-time options."""

    entropy_model: dict | None = None
    """Base options of the entropy model (a stream's recorded decoder options always win over them)."""
    entropy_model_plugin: str | None = None
    """Apply ``entropy_model`` only to streams of this entropy model (``None``: to any)."""
    composer: Any = None
    """Instead of the recorded composer: a name (built with ``composer_options``), a built
    :class:`~.interfaces.Composer`, or a function that returns one."""
    composer_options: dict | None = None
    """Decode-time options of the composer (steps, seed, device ...), over the recorded ones."""


class Decoder:
    """The one decode path (:meth:`Pipeline.decode`, :func:`decode`, ``discover decode``): the entropy model and
    composer a stream's header records, built once per process (see :mod:`.build`), with :class:`DecodeOptions`."""

    def __init__(self, registry: Registry | None = None, context: Context | None = None,
                 options: DecodeOptions | None = None):
        self.registry = registry or get_registry()
        self.context = context or Context()
        self.options = options or DecodeOptions()
        self._prepared: set[str] = set()

    def entropy_model(self, stream: Stream) -> EntropyModel:
        o = self.options
        plugin = o.entropy_model_plugin
        base = o.entropy_model if plugin is None or plugin == stream.header.entropy_model.plugin else None
        return decoder_for(stream, self.registry, self.context, base)

    def composer(self, stream: Stream) -> Composer:
        chosen = self.options.composer
        if isinstance(chosen, Composer):
            return chosen
        if callable(chosen):
            return chosen()
        return composer_for(stream, self.registry, self.context, chosen, self.options.composer_options)

    def prepare(self, stream: Stream | bytes) -> None:
        """Build what ``stream`` needs now (before a loop, so a component that cannot be built fails once)."""
        stream = _as_stream(stream)
        key = stream.header.entropy_model.model_dump_json() + stream.header.composer.model_dump_json()
        if key not in self._prepared:
            self.entropy_model(stream)
            self.composer(stream)
            self._prepared.add(key)

    def decode_content(self, stream: Stream | bytes) -> Decoded:
        stream = _as_stream(stream)
        return decode_content(stream, self.entropy_model(stream))

    def decode(self, stream: Stream | bytes) -> np.ndarray:
        stream = _as_stream(stream)
        em = self.entropy_model(stream)
        return compose(decode_content(stream, em), self.composer(stream))


def decode(stream: Stream | bytes, registry: Registry | None = None, device: str = "cpu",
           composer: Composer | str | None = None, composer_options: dict | None = None,
           entropy_model_options: dict | None = None, context: Context | None = None) -> np.ndarray:
    """Decode a stream using only what its header records (no pipeline file needed).

    ``composer`` overrides the recorded composer (a built one, or a name built with ``composer_options``);
    ``composer_options`` set decode-time options (steps, seed, device ...) of the recorded one.
    ``entropy_model_options`` add options the stream does not record (e.g. a checkpoint path).
    """
    options = DecodeOptions(entropy_model=entropy_model_options, composer=composer,
                            composer_options=composer_options)
    return Decoder(registry, context or Context(device=device), options).decode(stream)


__all__ = ["DecodeOptions", "Decoder", "compose", "composer_for", "decode", "decode_content", "decoder_for",
           "recorded_options"]
