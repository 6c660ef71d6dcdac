"""Every built-in component passes the contract suite of its kind (discover_core.testing).

Each component class has exactly one test class on its kind's whole suite (``XContract``: class checks and
behaviour); further option sets use the behaviour half (``XOptionsContract``), so the option-independent
class checks run once per class.

The vision components (``face``, ``cam``, ``imagenet-classifier``) are imported
lazily, in a fixture: their plugin modules import no heavy library at load
time, and the suites skip only the tests that build a component, with
``pytest.importorskip`` on the exact modules the component ``requires``, when
its extra is not installed.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from discover_core.testing import (ComposerContract, ComposerOptionsContract, EntropyModelContract,
                                   EntropyModelOptionsContract, GrounderContract, GrounderOptionsContract,
                                   LabelSourceContract, LabelSourceOptionsContract, TaskHeadContract,
                                   SUITES, entry_point_registry, write_box_file)
from discover_core.testing.contract import ComponentClassContract
from discover_boxes.grounder import BoxesGrounder
from discover_roi.codec import RoiImage
from discover_roi.paste import Paste
from discover_static.source import StaticLabels


def _registered(kind: str, name: str, module: str):
    """The class registered as ``name``, imported from ``module`` (so an import error shows itself)."""
    mod = importlib.import_module(module)
    registry = entry_point_registry()
    reg = registry.components[kind].get(name)
    if reg is None:
        failures = "; ".join(f"{f.plugin}: {f.error}" for f in registry.failures) or "none"
        hint = ""
        if getattr(mod, "__file__", None) is None:  # a namespace package: the editable install predates __init__.py
            hint = f"; {module} imports as a namespace package: reinstall the project (pip install -e .)"
        pytest.fail(f"no {kind.replace('_', ' ')} '{name}' is registered (plugin failures: {failures}){hint}")
    return reg.cls


# -- label sources -------------------------------------------------------------
class TestStaticPreset(LabelSourceContract):
    component_class = StaticLabels
    options = {"preset": "coco-80"}


class TestStaticImagenetPreset(LabelSourceOptionsContract):
    component_class = StaticLabels
    options = {"preset": "imagenet-1k"}


class TestStaticInline(LabelSourceOptionsContract):
    component_class = StaticLabels
    options = {"labels": ["cat", " dog ", "cat", "person"]}


class TestStaticFile(LabelSourceOptionsContract):
    component_class = StaticLabels

    @pytest.fixture
    def options_dict(self, tmp_path):
        (tmp_path / "labels.yaml").write_text("labels: [boat, kite, boat]\n", encoding="utf-8")
        return {"file": str(tmp_path / "labels.yaml"), "labels": ["kite", "bird"]}


# -- grounders ---------------------------------------------------------------
class TestBoxes(GrounderContract):
    component_class = BoxesGrounder
    expect_regions = True

    @pytest.fixture
    def options_dict(self, tmp_path):
        return {"file": str(write_box_file(tmp_path / "boxes.json"))}


class TestBoxesCoco(GrounderOptionsContract):
    component_class = BoxesGrounder
    expect_regions = True
    labels = ("square", "stripes")

    @pytest.fixture
    def options_dict(self, tmp_path):
        import json

        coco = {"images": [{"id": 1, "file_name": "imgs/sample.png"}],
                "categories": [{"id": 1, "name": "Square"}, {"id": 2, "name": "disc"}, {"id": 3, "name": "stripes"}],
                "annotations": [{"image_id": 1, "category_id": 1, "bbox": [5, 6, 30, 29], "score": 0.5},
                                {"image_id": 1, "category_id": 2, "bbox": [50, 3, 40, 40]},
                                {"image_id": 1, "category_id": 3, "bbox": [-10, 40, 200, 100]}]}
        (tmp_path / "coco.json").write_text(json.dumps(coco), encoding="utf-8")
        return {"file": str(tmp_path / "coco.json"), "format": "coco", "min_score": 0.2}


def _photo(name: str):
    """A real photo from scikit-image (the 'demo' extra), so the region checks are not vacuous."""
    data = pytest.importorskip("skimage.data", reason="the 'demo' extra (scikit-image) is not installed")
    return getattr(data, name)()


class TestFace(GrounderContract):
    labels = ("face", "person", "car")
    expect_regions = True

    @pytest.fixture
    def component_cls(self):
        return _registered("grounder", "face", "discover_face.grounder")

    @pytest.fixture
    def grounder_image(self):
        return _photo("astronaut")


class TestCam(GrounderContract):
    labels = ("Tabby cat", "Egyptian cat", "tiger cat", "sports car", "banana")
    expect_regions = True

    @pytest.fixture
    def component_cls(self):
        return _registered("grounder", "cam", "discover_imagenet")

    @pytest.fixture
    def grounder_image(self):
        return _photo("chelsea")


# -- entropy models ------------------------------------------------------------
class TestRoiImageAvif(EntropyModelContract):
    component_class = RoiImage
    min_region_psnr = 24.0


class TestRoiImageWebpNoRest(EntropyModelOptionsContract):
    component_class = RoiImage
    options = {"codec": "webp", "code_rest": False, "align": 1, "margin": 3, "background_scale": 0.3,
               "background_quality": None, "background_max_quality": 30, "background_under_regions": "smooth"}
    min_region_psnr = 24.0


class TestRoiImageJpeg(EntropyModelOptionsContract):
    component_class = RoiImage
    options = {"codec": "jpeg", "region_quality": 95, "subsampling": "4:4:4", "align": 16}
    min_region_psnr = 28.0


class TestRoiImageManyRegions(EntropyModelOptionsContract):
    """More than 8 content chunks: the suite samples subsets instead of trying all of them."""

    component_class = RoiImage
    options = {"codec": "webp", "align": 1, "code_rest": True}
    min_region_psnr = 24.0

    @pytest.fixture
    def encode_regions(self):
        from discover_core import Region

        return [Region((x, y, x + 10.0, y + 9.0), f"cell-{i}-{j}") for i, x in enumerate(range(2, 90, 15))
                for j, y in enumerate(range(2, 60, 20))]

    def test_has_many_content_chunks(self, component, encode_image, encode_regions):
        content = [c for c in component.encode(encode_image, encode_regions).chunks if c.kind == "content"]
        assert len(content) > 8 and len(self.content_subsets(content)) == self.max_subsets


class TestHyperprior(EntropyModelContract):
    """The learned codec with small, seeded initial weights (no checkpoint): the contract, not the quality."""

    options = {"checkpoint": None, "channels": 16, "latent_channels": 16, "global_channels": 0, "seed": 3}

    @pytest.fixture
    def component_cls(self):
        return _registered("entropy_model", "hyperprior", "discover_learned")


# -- composers -------------------------------------------------------------------
class TestPaste(ComposerContract):
    component_class = Paste
    entropy_model_class = RoiImage
    entropy_model_options = {"codec": "webp"}


class TestPasteFeathered(ComposerOptionsContract):
    component_class = Paste
    options = {"feather": 6, "upsample": "nearest", "fill": [0, 255, 10]}
    entropy_model_class = RoiImage
    entropy_model_options = {"codec": "webp", "align": 1}


# -- task heads -----------------------------------------------------------------
class TestImagenetClassifier(TaskHeadContract):
    @pytest.fixture
    def component_cls(self):
        return _registered("task_head", "imagenet-classifier", "discover_imagenet")

    @pytest.fixture
    def head_images(self):
        from discover_core.testing import sample_image

        return [_photo("chelsea"), _photo("coffee"), sample_image()]


TESTS = Path(__file__).resolve().parent


def whole_suites_in_tests() -> dict[tuple[str, str], list[str]]:
    """(kind, name) of each built-in -> the test classes (anywhere under tests/) on its kind's whole suite that
    name it: by its class name (``component_class = Paste``) or its quoted name (``_registered(..., "face")``)."""
    builtins = [r for r in entry_point_registry().all() if r.distribution == "discover-codec"]
    suites = {kind: cls.__name__ for kind, cls in SUITES.items()}
    found: dict[tuple[str, str], list[str]] = {(r.kind, r.name): [] for r in builtins}
    for path in sorted(TESTS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            body = ast.get_source_segment(source, node) or ""
            for r in builtins:
                if suites[r.kind] in bases and (re.search(rf"\b{r.cls.__name__}\b", body) or f'"{r.name}"' in body):
                    found[(r.kind, r.name)].append(f"{path.relative_to(TESTS)}::{node.name}")
    return found


def test_every_builtin_has_one_whole_contract_test():
    """A new built-in component needs one test class on its kind's whole suite (class checks run once per class),
    here or in its own tests; further option sets use the ...OptionsContract half."""
    found = whole_suites_in_tests()
    missing = sorted(k for k, v in found.items() if not v)
    assert not missing, f"built-ins without a whole contract test: {missing}"
    twice = {k: v for k, v in found.items() if len(v) > 1}
    assert not twice, f"several whole suites for one class (use the ...OptionsContract for more option sets): {twice}"
    whole_here = {cls for v in found.values() for cls in v if cls.startswith("test_contracts.py::")}
    for c in [c for c in globals().values() if isinstance(c, type) and c.__name__.startswith("Test")]:
        cls = getattr(c, "component_class", None)
        if cls is not None and not issubclass(c, ComponentClassContract):
            assert found.get((c.kind, cls.name)), f"{c.__name__} tests options of a class no whole suite checks"
        if issubclass(c, ComponentClassContract):
            assert f"test_contracts.py::{c.__name__}" in whole_here, f"{c.__name__} is not found by the scan"


# -- the testing package itself --------------------------------------------------
def test_sample_image_is_deterministic_structure_not_noise(sample_image, sample_image_factory):
    import numpy as np

    assert sample_image.shape == (64, 96, 3) and sample_image.dtype == np.uint8
    assert np.array_equal(sample_image, sample_image_factory(96, 64))
    assert not np.array_equal(sample_image, sample_image_factory(96, 64, seed=1))
    # mostly smooth: neighbouring pixels are close except at object edges and stripes
    step = np.abs(np.diff(sample_image.astype(int), axis=0)).mean()
    assert step < 20 and sample_image.std() > 30
    for size in ((1, 1), (7, 5), (33, 17)):
        assert sample_image_factory(*size).shape == (size[1], size[0], 3)


def test_pytest_plugin_fixtures(sample_image, sample_regions, sample_labels, sample_meta, discover_registry,
                                tiny_pipeline_dict, tiny_pipeline):
    import numpy as np

    assert [r.label for r in sample_regions] == sample_labels
    assert discover_registry.get("composer", "paste").cls is Paste
    assert discover_registry is not entry_point_registry()
    assert tiny_pipeline_dict["schema_version"] == 2 and tiny_pipeline_dict["grounders"][0]["plugin"] == "boxes"
    stream = tiny_pipeline.encode(sample_image, sample_meta)
    assert sorted(stream.header.labels) == sorted(sample_labels)
    part = stream.extract(task=tiny_pipeline_dict["tasks"][0]["name"])
    picture = tiny_pipeline.decode(part.to_bytes())
    assert picture.shape == sample_image.shape
    x0, y0, x1, y1 = sample_regions[0].int_box(96, 64)
    err = np.abs(picture[y0:y1, x0:x1].astype(int) - sample_image[y0:y1, x0:x1]).mean()
    assert err < 8


def test_pytest_plugin_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, discover_core.testing.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('discover_core.testing.') and "
            "m != 'discover_core.testing.pytest_plugin' or m in ('torch', 'cv2', 'timm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
