"""Contract suite of composers: decoded, possibly partial content -> a full ``(H, W, 3)`` uint8 image."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest

from ..interfaces import REPRESENTATIONS, Decoded, EntropyModel
from . import samples
from .checks import check_decoded, check_image, decoded_digest, json_round_trip, require_extras
from .contract import ComponentClassContract, ComponentOptionsContract, StreamComponentClassChecks


def real_decodes(model: EntropyModel) -> list[tuple[str, Decoded]]:
    """What ``model`` decodes from the sample image at several sizes: everything, side chunks only, and the
    side chunks with each content chunk alone; ``tasks`` / ``labels`` filled in as the pipeline does."""
    out: list[tuple[str, Decoded]] = []
    representation, space = type(model).produces_for(model.options)
    for size in (samples.SAMPLE_SIZE, *samples.ODD_SIZES):
        image, regions = samples.sample_image(*size), samples.sample_regions(*size)
        enc = model.encode(image, regions)
        params = json_round_trip(enc.params, "Encoded.params")
        side = [c for c in enc.chunks if c.kind == "side"]
        content = [c for c in enc.chunks if c.kind == "content"]
        tag = f"{model.name} {size[0]}x{size[1]}"
        for what, chunks in [("full", enc.chunks), ("side only", side),
                             *[(f"side + {c.name}", side + [c]) for c in content]]:
            decoded = model.decode(size, params, chunks, type(model).format_version)
            check_decoded(decoded, size, representation, space)
            arrived = [c for c in chunks if c.kind == "content"]
            decoded = dataclasses.replace(decoded, tasks=tuple(sorted({t for c in arrived for t in c.tasks})),
                                          labels=tuple(sorted({lab for c in arrived for lab in c.labels})))
            out.append((f"{tag} {what}", decoded))
    return out


def _copy(decoded: Decoded) -> Decoded:
    """A deep copy of the arrays of ``decoded`` (to detect a composer that modifies its input)."""
    import copy

    return copy.deepcopy(decoded)


class ComposerOptionsContract(ComponentOptionsContract):
    """What a composer does with the options under test (run for every option set)."""

    kind = "composer"
    entropy_model_class: ClassVar[type[EntropyModel] | None] = None
    """An entropy model whose real decodes the composer must compose (needed unless it accepts pixels)."""
    entropy_model_options: ClassVar[dict[str, Any] | None] = None
    requires_coarse: ClassVar[bool] = False
    """Set if the composer needs ``coarse`` content (synthetic samples without it are then left out)."""

    @pytest.fixture
    def decoded_samples(self, component_cls, context) -> list[tuple[str, Decoded]]:
        out: list[tuple[str, Decoded]] = []
        em_cls = self.entropy_model_class
        if em_cls is not None:
            require_extras(em_cls)
            model = em_cls(em_cls.Options.model_validate(self.entropy_model_options or {}), context)
            produces = em_cls.produces_for(model.options)
            assert component_cls.can_compose(*produces), \
                f"{em_cls.name} produces {produces}, which {component_cls.name} cannot compose (can_compose)"
            out += real_decodes(model)
        if component_cls.can_compose("pixels", None):
            out += [(name, d) for name, d in samples.synthetic_pixel_decodes()
                    if not (self.requires_coarse and d.coarse is None)]
        if not out:
            pytest.fail(f"{component_cls.name} accepts {sorted(component_cls.accepts)}: set "
                        f"`entropy_model_class` on {type(self).__name__} to one that produces it")
        return out

    def test_composes_full_images(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            check_image(component.compose(decoded), tuple(decoded.size), f"compose({name})")

    def test_missing_patches(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            bare = dataclasses.replace(decoded, patches=[])  # latent and missing stay
            check_image(component.compose(bare), tuple(bare.size), f"compose({name}, no patches)")

    def test_compose_batch_equals_one_by_one(self, component, decoded_samples):
        batch = [d for _, d in decoded_samples]
        together = component.compose_batch(batch)
        assert isinstance(together, list) and len(together) == len(batch), \
            f"compose_batch() of {len(batch)} decodes returned {type(together).__name__} of " \
            f"{len(together) if hasattr(together, '__len__') else '?'}"
        for (name, decoded), picture in zip(decoded_samples, together):
            check_image(picture, tuple(decoded.size), f"compose_batch(...)[{name}]")
            assert np.array_equal(picture, component.compose(decoded)), \
                f"compose_batch() and compose() give different pictures for {name}"

    def test_deterministic(self, component, build, decoded_samples):
        other = build()
        for name, decoded in decoded_samples:
            first = component.compose(decoded)
            assert np.array_equal(component.compose(decoded), first), f"compose({name}) is not deterministic"
            assert np.array_equal(other.compose(decoded), first), f"compose({name}) differs between instances"

    def test_does_not_modify_decoded(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            before = decoded_digest(_copy(decoded))
            component.compose(decoded)
            assert decoded_digest(decoded) == before, f"compose({name}) modified the decoded content"


class ComposerContract(ComposerOptionsContract, StreamComponentClassChecks, ComponentClassContract):
    """The whole composer contract: class checks (once per class) and behaviour with the options under test."""

    def test_declares_what_it_accepts(self, component_cls):
        accepts = component_cls.accepts
        assert isinstance(accepts, (set, frozenset)) and accepts and set(accepts) <= set(REPRESENTATIONS), \
            f"accepts must be a non-empty set of {REPRESENTATIONS}, got {accepts!r}"
        spaces = component_cls.latent_spaces
        assert spaces is None or (isinstance(spaces, (set, frozenset)) and all(isinstance(s, str) for s in spaces))
        for rep in accepts:
            space = None if rep != "latent" or spaces is None else next(iter(sorted(spaces)), None)
            assert component_cls.can_compose(rep, space), f"can_compose({rep!r}, {space!r}) is False"
        assert not component_cls.can_compose("no-such-representation", None)
