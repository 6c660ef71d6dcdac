"""Contract suite of entropy models: chunks that decode in every subset, deterministically, into composable content."""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any, ClassVar, Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from ..bitstream import ComponentRecord, Stream
from ..errors import PayloadError
from ..interfaces import REPRESENTATIONS, Chunk, Composer, Decoded, Encoded, EntropyModel, Region, path_options
from ..metrics import psnr, region_mask
from . import samples
from .checks import check_decoded, check_image, decoded_digest, entry_point_registry, json_round_trip, require_extras
from .contract import ComponentClassContract, ComponentOptionsContract, StreamComponentClassChecks


def check_encoded(encoded: Any, image: np.ndarray, regions: Sequence[Region] = ()) -> None:
    """Valid chunks (unique names, ints boxes inside the image, labels of real regions) and JSON params."""
    h, w = image.shape[:2]
    assert isinstance(encoded, Encoded), f"encode() returned {type(encoded).__name__}, expected Encoded"
    assert isinstance(encoded.chunks, list) and encoded.chunks, "encode() returned no chunks"
    names = [c.name for c in encoded.chunks]
    assert len(set(names)) == len(names), f"chunk names must be unique: {names}"
    for c in encoded.chunks:
        assert isinstance(c, Chunk), f"chunks must be discover_core.Chunk, got {type(c).__name__}"
        assert c.kind in ("side", "content"), f"chunk '{c.name}' has kind {c.kind!r}"
        assert isinstance(c.name, str) and c.name, "chunk names must be non-empty strings"
        assert isinstance(c.payload, bytes), f"chunk '{c.name}' payload is {type(c.payload).__name__}, not bytes"
        assert all(isinstance(lab, str) and lab for lab in c.labels), f"chunk '{c.name}' labels {c.labels!r}"
        for box in c.boxes:
            assert len(box) == 4 and all(isinstance(v, (int, np.integer)) for v in box), \
                f"chunk '{c.name}' box {box!r} must be four ints"
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, \
                f"chunk '{c.name}' box {box} is empty or outside the {w}x{h} image"
    assert isinstance(encoded.params, dict) and all(isinstance(k, str) for k in encoded.params)
    json_round_trip(encoded.params, "Encoded.params")
    known = {r.label for r in regions}
    for c in encoded.chunks:
        assert set(c.labels) <= known, f"chunk '{c.name}' carries labels {sorted(set(c.labels) - known)} " \
                                       f"that no region has"


def recorded_options(model: EntropyModel) -> dict[str, Any]:
    """The options a stream header records for ``model``: its ``decoder_options`` (all if ``None``), as JSON."""
    keep = type(model).decoder_options
    options = model.options.model_dump(mode="json")
    return options if keep is None else {k: v for k, v in options.items() if k in keep}


class EntropyModelOptionsContract(ComponentOptionsContract):
    """What an entropy model does with the options under test (run for every option set)."""

    kind = "entropy_model"
    composer_class: ClassVar[type[Composer] | None] = None
    """Composer used to check that decoded content composes (default: an installed one that can compose what
    the model produces, ``paste`` for pixels)."""
    composer_options: ClassVar[dict[str, Any] | None] = None
    max_subsets: ClassVar[int] = 48
    """With more than 8 content chunks, how many subsets to try (all singles, none, all, and a sample)."""
    min_region_psnr: ClassVar[float | None] = None
    """If set, the full decode must reach this PSNR (dB) inside the regions (``math.inf``: lossless)."""

    @pytest.fixture
    def encode_image(self) -> np.ndarray:
        return samples.sample_image()

    @pytest.fixture
    def encode_regions(self) -> list[Region]:
        return samples.sample_regions()

    @pytest.fixture
    def produces(self, component_cls, component_options) -> tuple[str, str | None]:
        """``(representation, latent space)`` the decoder hands on with the options under test."""
        return component_cls.produces_for(component_options)

    @pytest.fixture
    def reference_composer(self, produces, context) -> Composer:
        cls = self.composer_class
        if cls is None:
            fits = [r.cls for r in entry_point_registry().all("composer") if r.cls.can_compose(*produces)]
            fits.sort(key=lambda c: (c.name != "paste", c.name))
            if not fits:
                pytest.fail(f"no installed composer can compose {produces}; set `composer_class` on "
                            f"{type(self).__name__}")
            cls = fits[0]
        assert cls.can_compose(*produces), f"composer '{cls.name}' cannot compose {produces}"
        require_extras(cls)
        return cls(cls.Options.model_validate(self.composer_options or {}), context)

    # -- helpers --------------------------------------------------------------
    check_encoded = staticmethod(check_encoded)

    @staticmethod
    def decode(model: EntropyModel, image: np.ndarray, encoded: Encoded, chunks: Sequence[Chunk]) -> Decoded:
        """Decode as a stream reader would: params through JSON, chunks as given, the model's format_version."""
        h, w = image.shape[:2]
        decoded = model.decode((w, h), json_round_trip(encoded.params, "Encoded.params"), list(chunks),
                               type(model).format_version)
        check_decoded(decoded, (w, h), *type(model).produces_for(model.options))
        return decoded

    def decode_and_compose(self, model, composer, image, encoded, chunks) -> np.ndarray:
        decoded = self.decode(model, image, encoded, chunks)
        out = composer.compose(decoded)
        check_image(out, (image.shape[1], image.shape[0]), f"composer '{composer.name}'")
        return out

    def content_subsets(self, content: list[Chunk]) -> list[tuple[Chunk, ...]]:
        n = len(content)
        if n <= 8:
            return [s for k in range(n + 1) for s in itertools.combinations(content, k)]
        rng = random.Random(1234)
        subsets = [(), tuple(content)] + [(c,) for c in content]
        while len(subsets) < self.max_subsets:
            subsets.append(tuple(c for c in content if rng.random() < 0.5))
        return subsets

    @staticmethod
    def with_content(encoded: Encoded, subset: Sequence[Chunk]) -> list[Chunk]:
        """The side chunks and ``subset``, in stream order."""
        return [c for c in encoded.chunks if c.kind == "side" or c in subset]

    # -- tests ----------------------------------------------------------------
    def test_produces_for_the_options(self, produces):
        representation, space = produces
        assert representation in REPRESENTATIONS, \
            f"produces_for() gives {representation!r}, not one of {REPRESENTATIONS}"
        if representation == "latent":
            assert isinstance(space, str) and space, "a model that produces 'latent' must name its latent space"

    def test_encode_gives_valid_chunks(self, component, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        self.check_encoded(encoded, encode_image, encode_regions)

    def test_region_labels_are_tagged(self, component, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        h, w = encode_image.shape[:2]
        tagged = {lab for c in encoded.chunks if c.kind == "content" for lab in c.labels}
        visible = {r.label for r in encode_regions if (b := r.int_box(w, h))[2] > b[0] and b[3] > b[1]}
        assert visible <= tagged, (f"labels {sorted(visible - tagged)} are on no content chunk: a task's part of "
                                   f"the stream (`extract`) would lose them")

    def test_round_trip(self, component, reference_composer, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)

    def test_region_fidelity(self, component, reference_composer, encode_image, encode_regions):
        """The content chunks make their regions better than the side chunks alone do (and reach
        ``min_region_psnr`` when set)."""
        encoded = component.encode(encode_image, encode_regions)
        h, w = encode_image.shape[:2]
        mask = region_mask(w, h, [r.box for r in encode_regions])
        if not mask.any():
            return  # encode_regions overridden with none: nothing to compare
        full = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        side = self.decode_and_compose(component, reference_composer, encode_image, encoded,
                                       self.with_content(encoded, ()))
        with_all, side_only = psnr(encode_image, full, mask), psnr(encode_image, side, mask)
        assert with_all >= side_only, (f"PSNR inside the regions is {with_all:.2f} dB with every content chunk, "
                                       f"{side_only:.2f} dB with the side chunks only")
        if self.min_region_psnr is not None:
            assert with_all >= self.min_region_psnr, \
                f"PSNR inside the regions is {with_all:.2f} dB < min_region_psnr {self.min_region_psnr}"

    def test_same_input_same_bytes(self, component, build, encode_image, encode_regions):
        def fingerprint(enc: Encoded):
            return [(c.kind, c.name, c.payload, c.labels, c.boxes, c.tasks) for c in enc.chunks], enc.params

        first = fingerprint(component.encode(encode_image, encode_regions))
        assert fingerprint(component.encode(encode_image, encode_regions)) == first, \
            "encoding the same image twice gave different bytes"
        assert fingerprint(build().encode(encode_image, encode_regions)) == first, \
            "two models with the same options gave different bytes"

    def test_decode_is_deterministic(self, component, build, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        content = [c for c in encoded.chunks if c.kind == "content"]
        fresh = build()
        for subset in (tuple(content), (), tuple(content[:1])):
            chunks = self.with_content(encoded, subset)
            first = decoded_digest(self.decode(component, encode_image, encoded, chunks))
            names = [c.name for c in chunks]
            assert decoded_digest(self.decode(component, encode_image, encoded, chunks)) == first, \
                f"decoding {names} twice gave different content"
            assert decoded_digest(self.decode(fresh, encode_image, encoded, chunks)) == first, \
                f"two models with the same options decode {names} differently"

    def test_every_subset_of_content_chunks_decodes(self, component, reference_composer, encode_image,
                                                    encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        side = [c for c in encoded.chunks if c.kind == "side"]
        content = [c for c in encoded.chunks if c.kind == "content"]
        for subset in self.content_subsets(content):
            try:
                self.decode_and_compose(component, reference_composer, encode_image, encoded,
                                        self.with_content(encoded, subset))
            except Exception as exc:
                raise AssertionError(f"decoding side chunks {[c.name for c in side]} + content chunks "
                                     f"{[c.name for c in subset]} failed: {type(exc).__name__}: {exc}") from exc

    def test_missing_marks_what_did_not_arrive(self, component, encode_image, encode_regions):
        """``Decoded.missing`` never marks the boxes of content chunks that arrived, and marks an area when no
        content chunk arrived (``None`` means everything arrived)."""
        encoded = component.encode(encode_image, encode_regions)
        content = [c for c in encoded.chunks if c.kind == "content"]
        for subset in (tuple(content), *[(c,) for c in content]):
            decoded = self.decode(component, encode_image, encoded, self.with_content(encoded, subset))
            if decoded.missing is None:
                continue
            for c in subset:
                for x0, y0, x1, y1 in c.boxes:
                    assert not decoded.missing[y0:y1, x0:x1].any(), (
                        f"content chunk '{c.name}' arrived, yet Decoded.missing marks part of its box "
                        f"{(x0, y0, x1, y1)} as missing")
        if not content:
            return
        side = self.decode(component, encode_image, encoded, self.with_content(encoded, ()))
        assert side.missing is not None and side.missing.any(), (
            f"no content chunk arrived, yet Decoded.missing is {'None' if side.missing is None else 'empty'}; "
            f"mark the image area for which no content arrived")

    def test_stream_container_round_trip(self, component_cls, component, reference_composer, encode_image,
                                         encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        h, w = encode_image.shape[:2]
        chunks = [c if c.kind == "side" or not c.labels else dataclasses.replace(c, tasks=("contract",))
                  for c in encoded.chunks]
        stream = Stream.build(size=(w, h), mode="RGB",
                              entropy_model=ComponentRecord(plugin=component.name, options=recorded_options(component),
                                                            format_version=component_cls.format_version),
                              params=encoded.params,
                              composer=ComponentRecord(plugin=reference_composer.name,
                                                       format_version=type(reference_composer).format_version),
                              chunks=chunks)
        parsed = Stream.from_bytes(stream.to_bytes())
        record = parsed.header.entropy_model
        assert record.format_version == component_cls.format_version
        direct = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        decoded = component.decode(parsed.size, parsed.header.params, parsed.chunks, record.format_version)
        assert np.array_equal(reference_composer.compose(decoded), direct), \
            "decoding the chunks read back from a stream differs from decoding them directly"
        if "contract" in parsed.header.tasks:
            part = parsed.extract(task="contract")
            decoded = component.decode(part.size, part.header.params, part.chunks, record.format_version)
            check_image(reference_composer.compose(decoded), (w, h), "decoding an extracted part")

    def test_decodes_with_recorded_options_only(self, component_cls, component, reference_composer,
                                                encode_image, encode_regions, context):
        """A stream records only ``decoder_options`` (as JSON); a decoder built from them (plus the path options,
        which come from the pipeline or the command line, never from a stream) decodes the same."""
        recorded = json_round_trip(recorded_options(component), "the recorded decoder options")
        paths = {k: v for k, v in component.options.model_dump().items() if k in path_options(component_cls.Options)}
        try:
            options = component_cls.Options.model_validate({**recorded, **paths})
        except ValidationError as exc:
            raise AssertionError(f"the options a stream records ({sorted(recorded)}) do not build a decoder: {exc}")
        decoder = component_cls(options, context)
        encoded = component.encode(encode_image, encode_regions)
        expected = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        got = self.decode_and_compose(decoder, reference_composer, encode_image, encoded, encoded.chunks)
        assert np.array_equal(got, expected), \
            f"a decoder built from only {sorted(recorded)} (and path options {sorted(paths)}) decodes differently: " \
            f"add the missing options to decoder_options"

    @pytest.mark.parametrize("with_regions", [False, True], ids=["no-regions", "regions"])
    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, reference_composer, size, with_regions):
        image = samples.sample_image(*size)
        regions = samples.sample_regions(*size) if with_regions else []
        encoded = component.encode(image, regions)
        self.check_encoded(encoded, image, regions)
        for subset in ((), [c for c in encoded.chunks if c.kind == "content"]):
            self.decode_and_compose(component, reference_composer, image, encoded, self.with_content(encoded, subset))

    @pytest.mark.parametrize("size", [samples.SAMPLE_SIZE, (7, 5), (1, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
    def test_regions_outside_the_image(self, component, reference_composer, size):
        image = samples.sample_image(*size)
        regions = samples.awkward_regions(*size)
        encoded = component.encode(image, regions)
        self.check_encoded(encoded, image, regions)
        content = [c for c in encoded.chunks if c.kind == "content"]
        for c in content:
            assert not {"beyond", "before", "flat"} & set(c.labels), \
                f"chunk '{c.name}' carries a region that has no pixels in the image: {c.labels}"
        for subset in self.content_subsets(content)[: self.max_subsets]:
            self.decode_and_compose(component, reference_composer, image, encoded, self.with_content(encoded, subset))

    def test_damaged_payloads_are_refused(self, component, reference_composer, encode_image, encode_regions):
        """A payload that passed its checksum but is not what the chunk claims (a foreign or faulty encoder)
        raises :class:`~discover_core.errors.PayloadError`, or decodes into valid content; nothing else (any
        other exception is reported as a bug of the plugin)."""
        encoded = component.encode(encode_image, encode_regions)
        payloads = [c.payload for c in encoded.chunks]
        damages = {"truncated": lambda i: payloads[i][: len(payloads[i]) // 2],
                   "empty": lambda i: b"",
                   "swapped": lambda i: payloads[(i + 1) % len(payloads)],
                   "flipped": lambda i: bytes(b ^ 0x5A for b in payloads[i])}
        for i, chunk in enumerate(encoded.chunks):
            for how, damage in damages.items():
                bad = damage(i)
                if bad == chunk.payload:
                    continue
                chunks = list(encoded.chunks)
                chunks[i] = dataclasses.replace(chunk, payload=bad)
                try:
                    self.decode_and_compose(component, reference_composer, encode_image, encoded, chunks)
                except PayloadError:
                    pass  # refusing is right; the pipeline reports it as a StreamError
                except AssertionError as exc:
                    raise AssertionError(f"{how} payload of chunk '{chunk.name}' decoded into invalid content: "
                                         f"{exc}") from None
                except Exception as exc:  # noqa: BLE001 - the contract: unreadable payloads raise PayloadError
                    raise AssertionError(
                        f"{how} payload of chunk '{chunk.name}' raised {type(exc).__name__}: {exc}; a payload "
                        f"that cannot be read must raise discover_core.errors.PayloadError") from exc

    def test_does_not_modify_inputs(self, component, encode_image, encode_regions):
        before, regions = encode_image.copy(), list(encode_regions)
        component.encode(encode_image, encode_regions)
        assert np.array_equal(encode_image, before), "encode() modified its input image"
        assert list(encode_regions) == regions, "encode() modified its regions"


class EntropyModelContract(EntropyModelOptionsContract, StreamComponentClassChecks, ComponentClassContract):
    """The whole entropy model contract: class checks (once per class) and behaviour with the options under test."""

    def test_declares_what_it_produces(self, component_cls):
        assert component_cls.produces in REPRESENTATIONS, \
            f"{component_cls.__name__}.produces is {component_cls.produces!r}, not one of {REPRESENTATIONS}"
        space = component_cls.latent_space
        assert space is None or (isinstance(space, str) and space), f"latent_space must be None or a name: {space!r}"
