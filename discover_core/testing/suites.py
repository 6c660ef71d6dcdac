"""Contract test suites: one base class per kind of component.

A plugin's test module subclasses the suite of its component's kind, names the
class (and, if it needs any, its options) and gets the whole battery::

    from discover_core.testing import GrounderContract

    class TestMyGrounder(GrounderContract):
        component_class = MyGrounder
        options = {"threshold": 0.3}
        labels = ("person", "dog")        # candidate labels to ground
        expect_regions = False            # True: the sample image must give regions

Class attributes configure a suite; fixtures are the hooks for anything that
needs a temporary file or another input (override them in the subclass)::

    @pytest.fixture
    def options_dict(self, tmp_path):
        return {"file": str(write_box_file(tmp_path / "boxes.json"))}

Every suite checks the common contract (name, kind, options model, YAML
round-trip, summary, build, light module import, registration through the
``discover`` entry point) plus the behaviour of its kind. Tests that build the
component are skipped, with the pip extra to install, when a module named in
the component's ``requires`` is not importable; nothing else is ever skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import random
import subprocess
import sys
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from ..bitstream import ComponentRecord, Stream
from ..interfaces import (KIND_BASES, Chunk, Component, Composer, Context, Decoded, Encoded, EntropyModel,
                          ImageMeta, Patch, Region, TaskSpec)
from ..plugins import NAME_RE, Registry
from . import samples

HEAVY_MODULES = ("torch", "torchvision", "timm", "transformers", "diffusers", "ultralytics", "openai", "ollama",
                 "cv2", "skimage", "compressai", "facenet_pytorch", "tensorflow", "jax")
"""Modules a plugin must not import when it is loaded (only when a component is built)."""

UNKNOWN_OPTION = "surely_not_an_option_of_this_component"


# -- helpers -----------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def entry_point_registry() -> Registry:
    """A registry loaded from the ``discover`` entry points (once per test process)."""
    return Registry().load_entry_points()


@functools.lru_cache(maxsize=None)
def heavy_imports_of(module: str, heavy: tuple[str, ...] = HEAVY_MODULES) -> tuple[str, ...]:
    """The heavy modules that importing ``module`` pulls in, measured in a clean subprocess."""
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            "print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", code, module, *heavy], capture_output=True, text=True,
                          env=env, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"importing {module} in a fresh interpreter failed:\n{proc.stderr[-3000:]}")
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def require_extras(cls: type[Component]) -> None:
    """Skip the calling test when a module the component ``requires`` is not importable."""
    extra = cls.extra or "all"
    for module in cls.requires:
        pytest.importorskip(module, reason=f"{cls.kind.replace('_', ' ')} '{cls.name}' needs {module}: "
                                           f"pip install 'discover-codec[{extra}]'")


def json_round_trip(value: Any, what: str) -> Any:
    """``value`` through strict JSON (no NaN/inf), as a stream header or a report stores it."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} is not JSON-serialisable ({exc}): {value!r}"[:2000]) from None
    return json.loads(text)


def check_image(image: Any, size: tuple[int, int], what: str) -> None:
    """``image`` is an ``(H, W, 3)`` uint8 array for ``size == (W, H)``."""
    w, h = size
    assert isinstance(image, np.ndarray), f"{what} returned {type(image).__name__}, expected a numpy array"
    assert image.shape == (h, w, 3), f"{what} returned shape {image.shape}, expected {(h, w, 3)}"
    assert image.dtype == np.uint8, f"{what} returned dtype {image.dtype}, expected uint8"


def check_pixels_decoded(decoded: Decoded) -> None:
    """A ``"pixels"`` Decoded is what a composer may trust: RGB uint8 arrays whose patches fit their boxes."""
    w, h = decoded.size
    if decoded.coarse is not None:
        c = decoded.coarse
        assert isinstance(c, np.ndarray) and c.ndim == 3 and c.shape[2] == 3 and c.dtype == np.uint8 \
            and c.shape[0] >= 1 and c.shape[1] >= 1, f"coarse content must be an (h, w, 3) uint8 array, " \
                                                     f"got {getattr(c, 'shape', c)} {getattr(c, 'dtype', '')}"
    for p in decoded.patches:
        assert isinstance(p, Patch), f"patches must be discover_core.Patch, got {type(p).__name__}"
        x0, y0, x1, y1 = p.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, f"patch box {p.box} is empty or outside the {w}x{h} image"
        assert isinstance(p.pixels, np.ndarray) and p.pixels.shape == (y1 - y0, x1 - x0, 3) \
            and p.pixels.dtype == np.uint8, f"patch at {p.box} has pixels {p.pixels.shape} {p.pixels.dtype}, " \
                                            f"expected {(y1 - y0, x1 - x0, 3)} uint8"
        if p.mask is not None:
            assert p.mask.shape == (y1 - y0, x1 - x0) and p.mask.dtype == bool, \
                f"patch at {p.box} has a mask of {p.mask.shape} {p.mask.dtype}, expected {(y1 - y0, x1 - x0)} bool"


def regions_mask(regions: Sequence[Region], width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for r in regions:
        x0, y0, x1, y1 = r.int_box(width, height)
        mask[y0:y1, x0:x1] = True
    return mask


# -- the common contract ------------------------------------------------------
class ComponentContract:
    """What every component must satisfy, whatever its kind."""

    kind: ClassVar[str] = ""
    """Set by each kind's suite."""
    component_class: ClassVar[type[Component] | None] = None
    """The component under test (or override the ``component_cls`` fixture)."""
    options: ClassVar[dict[str, Any] | None] = None
    """Options to build it with (default: its defaults). Override ``options_dict`` for computed ones."""
    check_registration: ClassVar[bool] = True
    """Check that an installed entry point registers the class under its name (install your package first)."""
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES

    # -- fixtures (override points) ---------------------------------------
    @pytest.fixture
    def component_cls(self) -> type[Component]:
        cls = type(self).component_class
        if cls is None:
            pytest.fail(f"{type(self).__name__}: set `component_class = YourComponent` "
                        f"(or override the `component_cls` fixture)")
        return cls

    @pytest.fixture
    def options_dict(self) -> dict[str, Any]:
        return dict(type(self).options or {})

    @pytest.fixture
    def context(self) -> Context:
        return Context()

    @pytest.fixture
    def component_options(self, component_cls, options_dict):
        try:
            return component_cls.Options.model_validate(options_dict)
        except ValidationError as exc:
            pytest.fail(f"the options under test do not validate against {component_cls.__name__}.Options:\n{exc}")

    @pytest.fixture
    def build(self, component_cls, component_options, context) -> Callable[..., Component]:
        """``build()`` a fresh component with the options under test, ``build({...})`` with others."""
        require_extras(component_cls)

        def build(options: dict[str, Any] | None = None) -> Component:
            opts = component_options if options is None else component_cls.Options.model_validate(options)
            return component_cls(opts, context)

        return build

    @pytest.fixture
    def component(self, build) -> Component:
        return build()

    # -- tests --------------------------------------------------------------
    def test_name_is_kebab_case(self, component_cls):
        name = getattr(component_cls, "name", None)
        assert isinstance(name, str) and NAME_RE.match(name), (
            f"{component_cls.__name__}.name is {name!r}; names are kebab-case "
            f"(lower-case letters, digits, single dashes), e.g. 'my-grounder'")

    def test_kind(self, component_cls):
        assert component_cls.kind == self.kind, f"{component_cls.__name__}.kind is {component_cls.kind!r}, " \
                                                f"expected {self.kind!r}"
        base = KIND_BASES[self.kind]
        assert issubclass(component_cls, base), f"{component_cls.__name__} must subclass discover_core.{base.__name__}"

    def test_summary(self, component_cls):
        summary = component_cls.summary()
        assert isinstance(summary, str) and summary.strip(), (
            f"{component_cls.__name__} has no docstring; its first line is the summary `discover plugins` shows")

    def test_requirements_declared(self, component_cls):
        assert isinstance(component_cls.requires, tuple) and all(isinstance(m, str) and m
                                                                 for m in component_cls.requires), \
            f"{component_cls.__name__}.requires must be a tuple of module names"
        assert component_cls.extra is None or isinstance(component_cls.extra, str)

    def test_options_model_forbids_extra(self, component_cls):
        model = component_cls.Options
        assert isinstance(model, type) and issubclass(model, BaseModel), \
            f"{component_cls.__name__}.Options must be a pydantic model (subclass discover_core.Options)"
        assert model.model_config.get("extra") == "forbid", \
            f"{component_cls.__name__}.Options must forbid unknown keys (model_config extra='forbid')"

    def test_options_reject_unknown_keys(self, component_cls, options_dict):
        with pytest.raises(ValidationError) as info:
            component_cls.Options.model_validate({**options_dict, UNKNOWN_OPTION: 1})
        types = {e["type"] for e in info.value.errors()}
        assert "extra_forbidden" in types, f"unknown option rejected for the wrong reason: {info.value}"

    def test_every_option_is_described(self, component_cls):
        missing = [name for name, f in component_cls.Options.model_fields.items()
                   if not (f.description or "").strip()]
        assert not missing, (f"{component_cls.__name__}.Options fields without a description: {missing}; "
                             f"use Field(..., description='...') (shown by `discover plugins show`)")

    def test_options_json_schema(self, component_cls):
        schema = component_cls.Options.model_json_schema()
        json.dumps(schema)  # `discover schema` embeds it

    def test_options_yaml_round_trip(self, component_cls, component_options):
        text = yaml.safe_dump(component_options.model_dump(mode="json"))
        again = component_cls.Options.model_validate(yaml.safe_load(text))
        assert again == component_options, f"options changed through YAML:\n{text}"

    def test_default_options_yaml_round_trip(self, component_cls):
        try:
            defaults = component_cls.Options()
        except ValidationError as exc:
            # Options without defaults: the only complaint allowed is that required ones are missing
            # (or a cross-field rule that asks for one of several), and each names a real field.
            fields = set(component_cls.Options.model_fields)
            for err in exc.errors():
                assert err["type"] in ("missing", "value_error"), f"defaults fail for another reason: {err}"
                if err["type"] == "missing":
                    assert err["loc"] and err["loc"][0] in fields, err
            return
        text = yaml.safe_dump(defaults.model_dump(mode="json"))
        assert component_cls.Options.model_validate(yaml.safe_load(text)) == defaults, text

    def test_builds(self, component_cls, component, component_options):
        assert isinstance(component, component_cls)
        assert component.options == component_options, "the component must keep its options as `self.options`"

    def test_module_import_is_light(self, component_cls):
        heavy = heavy_imports_of(component_cls.__module__, tuple(self.heavy_modules))
        assert not heavy, (f"importing {component_cls.__module__} imports {', '.join(heavy)}; import heavy "
                           f"modules in __init__ (when the component is built), so `discover plugins` stays fast "
                           f"and a missing extra disables only this component")

    def test_registered_through_entry_point(self, component_cls):
        if not self.check_registration:
            pytest.skip("check_registration is off")
        registry = entry_point_registry()
        reg = registry.components[self.kind].get(component_cls.name)
        failures = "; ".join(f"{f.plugin}: {f.error}" for f in registry.failures) or "none"
        assert reg is not None, (
            f"no installed plugin registers {self.kind.replace('_', ' ')} '{component_cls.name}' through the "
            f"'discover' entry-point group (install your package, e.g. `pip install -e .`; plugins that "
            f"failed to load: {failures})")
        assert reg.cls is component_cls, f"'{component_cls.name}' is registered as {reg.cls!r}, not this class"


# -- label sources ------------------------------------------------------------
class LabelSourceContract(ComponentContract):
    """A label source gives a non-empty list of unique, non-empty labels for a task, the same every time."""

    kind = "label_source"

    @pytest.fixture
    def task_spec(self) -> TaskSpec:
        return TaskSpec("detection", "find every object a detector should keep")

    @staticmethod
    def check_labels(labels: Any) -> None:
        assert isinstance(labels, list), f"labels() returned {type(labels).__name__}, expected a list"
        assert labels, "labels() returned no labels"
        bad = [x for x in labels if not isinstance(x, str) or not x.strip()]
        assert not bad, f"labels must be non-empty strings; got {bad[:5]!r}"
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        assert not dupes, f"labels must be unique; repeated: {dupes[:10]}"

    def test_labels_are_unique_non_empty_strings(self, component, task_spec):
        self.check_labels(component.labels(task_spec))

    def test_labels_are_deterministic(self, component, build, task_spec):
        first = component.labels(task_spec)
        assert component.labels(task_spec) == first, "asked twice, the same source gave different labels"
        assert build().labels(task_spec) == first, "two sources with the same options gave different labels"

    def test_labels_for_another_task(self, component):
        self.check_labels(component.labels(TaskSpec("classification", "")))


# -- grounders ----------------------------------------------------------------
class GrounderContract(ComponentContract):
    """A grounder returns valid regions (inside the image, labelled with candidates, scored in [0, 1])."""

    kind = "grounder"
    labels: ClassVar[tuple[str, ...]] = samples.SAMPLE_LABELS
    """Candidate labels given to the grounder."""
    expect_regions: ClassVar[bool] = False
    """Require at least one region on the sample image (so the validity checks are not vacuous)."""

    @pytest.fixture
    def grounder_image(self) -> np.ndarray:
        return samples.sample_image()

    @pytest.fixture
    def grounder_labels(self) -> list[str]:
        return list(self.labels)

    @pytest.fixture
    def image_meta(self) -> ImageMeta:
        return samples.sample_meta()

    @staticmethod
    def check_regions(regions: Any, image: np.ndarray, labels: Sequence[str]) -> None:
        assert isinstance(regions, list), f"ground() returned {type(regions).__name__}, expected a list"
        h, w = image.shape[:2]
        wanted = {lab.lower() for lab in labels}
        for r in regions:
            assert isinstance(r, Region), f"ground() returned {r!r}, expected discover_core.Region"
            assert len(r.box) == 4 and all(isinstance(c, (int, float)) and math.isfinite(c) for c in r.box), \
                f"box {r.box!r} must be four finite numbers"
            x0, y0, x1, y1 = r.box
            assert x1 > x0 and y1 > y0, f"box {r.box} of '{r.label}' is empty (x1 > x0 and y1 > y0 needed)"
            assert 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h, \
                f"box {r.box} of '{r.label}' is outside the {w}x{h} image"
            assert isinstance(r.score, (int, float)) and 0.0 <= r.score <= 1.0, \
                f"score {r.score!r} of '{r.label}' is not in [0, 1]"
            assert isinstance(r.label, str) and r.label.lower() in wanted, \
                f"label {r.label!r} is not among the candidates {sorted(wanted)[:10]}"

    def test_regions_are_valid(self, component, grounder_image, grounder_labels, image_meta):
        regions = component.ground(grounder_image, grounder_labels, image_meta)
        self.check_regions(regions, grounder_image, grounder_labels)
        if self.expect_regions:
            assert regions, "the grounder found nothing on the sample image (expect_regions is set)"

    def test_labels_match_case_insensitively(self, component, grounder_image, grounder_labels, image_meta):
        shouted = [lab.upper() for lab in grounder_labels]
        regions = component.ground(grounder_image, shouted, image_meta)
        self.check_regions(regions, grounder_image, shouted)

    def test_deterministic(self, component, build, grounder_image, grounder_labels, image_meta):
        first = component.ground(grounder_image, grounder_labels, image_meta)
        assert component.ground(grounder_image, grounder_labels, image_meta) == first
        assert build().ground(grounder_image, grounder_labels, image_meta) == first

    def test_no_candidate_labels_gives_no_regions(self, component, grounder_image, image_meta):
        assert component.ground(grounder_image, [], image_meta) == []

    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, grounder_labels, image_meta, size):
        image = samples.sample_image(*size)
        self.check_regions(component.ground(image, grounder_labels, image_meta), image, grounder_labels)

    def test_does_not_modify_the_image(self, component, grounder_image, grounder_labels, image_meta):
        before = grounder_image.copy()
        component.ground(grounder_image, grounder_labels, image_meta)
        assert np.array_equal(grounder_image, before), "ground() modified its input image"


# -- entropy models -------------------------------------------------------------
class EntropyModelContract(ComponentContract):
    """An entropy model's chunks decode in every subset, deterministically, into composable content."""

    kind = "entropy_model"
    composer_class: ClassVar[type[Composer] | None] = None
    """Composer used to check that decoded content composes (default: an installed one that accepts
    the model's ``produces``, ``paste`` for pixels)."""
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
    def reference_composer(self, component_cls, context) -> Composer:
        cls = self.composer_class
        if cls is None:
            registry = entry_point_registry()
            fits = [r.cls for r in registry.all("composer") if component_cls.produces in r.cls.accepts]
            fits.sort(key=lambda c: (c.name != "paste", c.name))
            if not fits:
                pytest.fail(f"no installed composer accepts '{component_cls.produces}'; "
                            f"set `composer_class` on {type(self).__name__}")
            cls = fits[0]
        require_extras(cls)
        return cls(cls.Options.model_validate(self.composer_options or {}), context)

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def check_encoded(encoded: Any, image: np.ndarray, regions: Sequence[Region] = ()) -> None:
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

    @staticmethod
    def decode(model: EntropyModel, image: np.ndarray, encoded: Encoded, chunks: Sequence[Chunk]) -> Decoded:
        """Decode as a stream reader would: params through JSON, chunks as given."""
        h, w = image.shape[:2]
        decoded = model.decode((w, h), json_round_trip(encoded.params, "Encoded.params"), list(chunks))
        assert isinstance(decoded, Decoded), f"decode() returned {type(decoded).__name__}, expected Decoded"
        assert tuple(decoded.size) == (w, h), f"decoded size {decoded.size} != image size {(w, h)}"
        assert decoded.representation == type(model).produces, \
            f"decoded representation {decoded.representation!r} != the model's produces {type(model).produces!r}"
        if decoded.representation == "pixels":
            check_pixels_decoded(decoded)
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

    # -- tests ----------------------------------------------------------------
    def test_declares_what_it_produces(self, component_cls):
        assert isinstance(component_cls.produces, str) and component_cls.produces

    def test_decoder_options_are_option_names(self, component_cls):
        keep = component_cls.decoder_options
        if keep is None:
            return
        unknown = set(keep) - set(component_cls.Options.model_fields)
        assert not unknown, f"decoder_options names unknown options: {sorted(unknown)}"

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
        if self.min_region_psnr is None:
            pytest.skip("min_region_psnr is not set")
        encoded = component.encode(encode_image, encode_regions)
        out = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        h, w = encode_image.shape[:2]
        value = samples.psnr(out, encode_image, regions_mask(encode_regions, w, h))
        assert value >= self.min_region_psnr, f"PSNR inside the regions is {value:.2f} dB < {self.min_region_psnr}"

    def test_same_input_same_bytes(self, component, build, encode_image, encode_regions):
        def fingerprint(enc: Encoded):
            return [(c.kind, c.name, c.payload, c.labels, c.boxes, c.tasks) for c in enc.chunks], enc.params

        first = fingerprint(component.encode(encode_image, encode_regions))
        assert fingerprint(component.encode(encode_image, encode_regions)) == first, \
            "encoding the same image twice gave different bytes"
        assert fingerprint(build().encode(encode_image, encode_regions)) == first, \
            "two models with the same options gave different bytes"

    def test_every_subset_of_content_chunks_decodes(self, component, reference_composer, encode_image,
                                                    encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        side = [c for c in encoded.chunks if c.kind == "side"]
        content = [c for c in encoded.chunks if c.kind == "content"]
        for subset in self.content_subsets(content):
            chunks = [c for c in encoded.chunks if c.kind == "side" or c in subset]  # keep stream order
            try:
                self.decode_and_compose(component, reference_composer, encode_image, encoded, chunks)
            except Exception as exc:
                raise AssertionError(f"decoding side chunks {[c.name for c in side]} + content chunks "
                                     f"{[c.name for c in subset]} failed: {type(exc).__name__}: {exc}") from exc

    def test_stream_container_round_trip(self, component, reference_composer, encode_image, encode_regions):
        encoded = component.encode(encode_image, encode_regions)
        h, w = encode_image.shape[:2]
        keep = type(component).decoder_options
        options = component.options.model_dump(mode="json")
        if keep is not None:
            options = {k: v for k, v in options.items() if k in keep}
        chunks = [c if c.kind == "side" or not c.labels else dataclasses.replace(c, tasks=("contract",))
                  for c in encoded.chunks]
        stream = Stream.build(size=(w, h), mode="RGB",
                              entropy_model=ComponentRecord(plugin=component.name, options=options),
                              params=encoded.params, composer=ComponentRecord(plugin=reference_composer.name),
                              chunks=chunks)
        parsed = Stream.from_bytes(stream.to_bytes())
        direct = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        decoded = component.decode(parsed.size, parsed.header.params, parsed.chunks)
        assert np.array_equal(reference_composer.compose(decoded), direct), \
            "decoding the chunks read back from a stream differs from decoding them directly"
        if "contract" in parsed.header.tasks:
            part = parsed.extract(task="contract")
            check_image(reference_composer.compose(component.decode(part.size, part.header.params, part.chunks)),
                        (w, h), "decoding an extracted part")

    def test_decodes_with_recorded_options_only(self, component_cls, component, reference_composer,
                                                encode_image, encode_regions, context):
        """A stream records only ``decoder_options``; a decoder built from them must decode it the same."""
        keep = component_cls.decoder_options
        if keep is None:
            pytest.skip("decoder_options is None: every option is recorded")
        recorded = {k: v for k, v in component.options.model_dump(mode="json").items() if k in keep}
        try:
            options = component_cls.Options.model_validate(recorded)
        except ValidationError as exc:
            raise AssertionError(f"the options a stream records ({sorted(keep)}) do not build a decoder: {exc}")
        decoder = component_cls(options, context)
        encoded = component.encode(encode_image, encode_regions)
        expected = self.decode_and_compose(component, reference_composer, encode_image, encoded, encoded.chunks)
        got = self.decode_and_compose(decoder, reference_composer, encode_image, encoded, encoded.chunks)
        assert np.array_equal(got, expected), \
            f"a decoder built from only {sorted(keep)} decodes differently: add the missing options to decoder_options"

    @pytest.mark.parametrize("with_regions", [False, True], ids=["no-regions", "regions"])
    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, reference_composer, size, with_regions):
        image = samples.sample_image(*size)
        regions = samples.sample_regions(*size) if with_regions else []
        encoded = component.encode(image, regions)
        self.check_encoded(encoded, image, regions)
        for subset in ([c for c in encoded.chunks if c.kind == "side"], encoded.chunks):
            self.decode_and_compose(component, reference_composer, image, encoded, subset)

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
            chunks = [c for c in encoded.chunks if c.kind == "side" or c in subset]
            self.decode_and_compose(component, reference_composer, image, encoded, chunks)

    def test_damaged_payloads_are_refused(self, component, reference_composer, encode_image, encode_regions):
        """A payload that passed its checksum but is not what the chunk claims (a foreign or faulty
        encoder) raises an exception, or decodes into valid content; never into arrays that do not fit."""
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
                except AssertionError as exc:
                    raise AssertionError(f"{how} payload of chunk '{chunk.name}' decoded into invalid content: "
                                         f"{exc}") from None
                except Exception:  # noqa: BLE001 - refusing is right; the pipeline reports it as a StreamError
                    pass

    def test_does_not_modify_inputs(self, component, encode_image, encode_regions):
        before, regions = encode_image.copy(), list(encode_regions)
        component.encode(encode_image, encode_regions)
        assert np.array_equal(encode_image, before), "encode() modified its input image"
        assert list(encode_regions) == regions, "encode() modified its regions"


# -- composers ------------------------------------------------------------------
class ComposerContract(ComponentContract):
    """A composer turns decoded, possibly partial content into a full ``(H, W, 3)`` uint8 image."""

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
            assert model.produces in component_cls.accepts, \
                f"{em_cls.name} produces '{model.produces}', which {component_cls.name} does not accept"
            for size in (samples.SAMPLE_SIZE, *samples.ODD_SIZES):
                image, regions = samples.sample_image(*size), samples.sample_regions(*size)
                enc = model.encode(image, regions)
                params = json_round_trip(enc.params, "Encoded.params")
                side = [c for c in enc.chunks if c.kind == "side"]
                content = [c for c in enc.chunks if c.kind == "content"]
                tag = f"{em_cls.name} {size[0]}x{size[1]}"
                out.append((f"{tag} full", model.decode(size, params, enc.chunks)))
                out.append((f"{tag} side only", model.decode(size, params, side)))
                for c in content:
                    out.append((f"{tag} side + {c.name}", model.decode(size, params, side + [c])))
        for name, d in out:
            if d.representation == "pixels":
                check_pixels_decoded(d)
        if "pixels" in component_cls.accepts:
            out += [(name, d) for name, d in synthetic_pixel_decodes()
                    if not (self.requires_coarse and d.coarse is None)]
        if not out:
            pytest.fail(f"{component_cls.name} accepts {sorted(component_cls.accepts)}: set "
                        f"`entropy_model_class` on {type(self).__name__} to one that produces it")
        return out

    def test_declares_what_it_accepts(self, component_cls):
        accepts = component_cls.accepts
        assert isinstance(accepts, (set, frozenset)) and accepts and all(isinstance(a, str) for a in accepts)

    def test_composes_full_images(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            check_image(component.compose(decoded), tuple(decoded.size), f"compose({name})")

    def test_missing_patches(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            bare = Decoded(size=decoded.size, representation=decoded.representation, coarse=decoded.coarse,
                           patches=[], extras=decoded.extras)
            check_image(component.compose(bare), tuple(bare.size), f"compose({name}, no patches)")

    def test_deterministic(self, component, build, decoded_samples):
        for name, decoded in decoded_samples:
            first = component.compose(decoded)
            assert np.array_equal(component.compose(decoded), first), f"compose({name}) is not deterministic"
            assert np.array_equal(build().compose(decoded), first), f"compose({name}) differs between instances"

    def test_does_not_modify_decoded(self, component, decoded_samples):
        for name, decoded in decoded_samples:
            coarse = None if decoded.coarse is None else decoded.coarse.copy()
            patches = [(p.box, p.pixels.copy(), None if p.mask is None else p.mask.copy()) for p in decoded.patches]
            component.compose(decoded)
            assert (coarse is None and decoded.coarse is None) or np.array_equal(coarse, decoded.coarse), \
                f"compose({name}) modified the coarse content"
            for (box, pixels, mask), p in zip(patches, decoded.patches):
                assert p.box == box and np.array_equal(p.pixels, pixels), f"compose({name}) modified a patch"
                assert (mask is None and p.mask is None) or np.array_equal(mask, p.mask)


def synthetic_pixel_decodes() -> list[tuple[str, Decoded]]:
    """Hand-made ``"pixels"`` decodes: partial patches, masks, no coarse content, tiny and odd sizes."""
    def img(w: int, h: int, seed: int = 0) -> np.ndarray:
        return samples.sample_image(w, h, seed)

    def mask(w: int, h: int) -> np.ndarray:
        m = np.zeros((h, w), bool)
        m[: max(1, h // 2), :] = True
        m[:, : max(1, w // 3)] = True
        return m

    W, H = samples.SAMPLE_SIZE
    return [
        ("coarse + masked and plain patches", Decoded(
            size=(W, H), coarse=img(W // 8, H // 8),
            patches=[Patch((8, 8, 40, 32), img(32, 24, 1), ("square",), mask(32, 24)),
                     Patch((50, 4, 90, 40), img(40, 36, 2), ("disc",)),
                     Patch((0, 0, W, H), img(W, H, 3), (), None)][::-1])),
        ("coarse only", Decoded(size=(W, H), coarse=img(12, 8))),
        ("coarse at full size", Decoded(size=(W, H), coarse=img(W, H))),
        ("coarse with another aspect", Decoded(size=(W, H), coarse=img(5, 17))),
        ("patches at the corners, no coarse", Decoded(
            size=(W, H), patches=[Patch((0, 0, 3, 2), img(3, 2)), Patch((W - 5, H - 7, W, H), img(5, 7))])),
        ("nothing at all", Decoded(size=(W, H))),
        ("1x1", Decoded(size=(1, 1), coarse=img(1, 1), patches=[Patch((0, 0, 1, 1), img(1, 1, 4))])),
        ("7x5, patch over everything", Decoded(size=(7, 5), coarse=img(1, 1),
                                               patches=[Patch((0, 0, 7, 5), img(7, 5), ("x",), mask(7, 5))])),
        ("33x17", Decoded(size=(33, 17), coarse=img(4, 2), patches=[Patch((30, 1, 33, 17), img(3, 16))])),
    ]


# -- task heads -------------------------------------------------------------------
class TaskHeadContract(ComponentContract):
    """A task head predicts JSON-serialisable output, deterministically, and scores agreement sensibly."""

    kind = "task_head"

    @pytest.fixture
    def head_images(self) -> list[np.ndarray]:
        return [samples.sample_image(seed=0), samples.sample_image(80, 80, seed=1),
                samples.sample_image(64, 96, seed=2)]

    def test_declares_its_task(self, component_cls):
        assert isinstance(component_cls.task, str)

    def test_predictions_are_json_serialisable(self, component, head_images):
        for image in head_images:
            json_round_trip(component.predict(image), f"{component.name}.predict()")

    def test_deterministic(self, component, build, head_images):
        first = [component.predict(im) for im in head_images]
        again = [component.predict(im) for im in head_images]
        fresh = build()
        assert json.dumps(again) == json.dumps(first), "predicting twice gave different predictions"
        assert json.dumps([fresh.predict(im) for im in head_images]) == json.dumps(first), \
            "two heads with the same options predicted differently"

    @staticmethod
    def check_metrics(metrics: Any) -> dict[str, float]:
        assert isinstance(metrics, dict) and metrics, f"score() returned {metrics!r}, expected named metrics"
        for key, value in metrics.items():
            assert isinstance(key, str) and key, f"metric name {key!r}"
            assert isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value)), \
                f"metric {key} = {value!r} is not a finite number"
        json_round_trip({k: float(v) for k, v in metrics.items()}, "score()")
        return metrics

    def test_agrees_with_itself(self, component, head_images):
        predictions = [component.predict(im) for im in head_images]
        metrics = self.check_metrics(component.score(predictions, references=predictions))
        if "agreement" in metrics:
            assert metrics["agreement"] == pytest.approx(1.0), f"self-agreement is {metrics['agreement']}"
        stored = json_round_trip(predictions, "predictions")  # as read back from a report
        metrics = self.check_metrics(component.score(stored, references=stored))
        if "agreement" in metrics:
            assert metrics["agreement"] == pytest.approx(1.0), "self-agreement changes after a JSON round trip"

    def test_scores_other_predictions(self, component, head_images):
        predictions = [component.predict(im) for im in head_images]
        metrics = self.check_metrics(component.score(predictions, references=predictions[::-1]))
        if "agreement" in metrics:
            assert 0.0 <= metrics["agreement"] <= 1.0

    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, size):
        json_round_trip(component.predict(samples.sample_image(*size)), f"{component.name}.predict()")

    def test_does_not_modify_the_image(self, component, head_images):
        before = head_images[0].copy()
        component.predict(head_images[0])
        assert np.array_equal(head_images[0], before), "predict() modified its input image"


SUITES = {
    "label_source": LabelSourceContract,
    "grounder": GrounderContract,
    "entropy_model": EntropyModelContract,
    "composer": ComposerContract,
    "task_head": TaskHeadContract,
}
"""The suite of each kind."""
