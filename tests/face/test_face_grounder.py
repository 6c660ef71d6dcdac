"""The ``face`` grounder on real photos (scikit-image's data module, matplotlib's grace_hopper.jpg).

Each grounder is built once per module; the whole file runs in a few seconds on a CPU.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

import discover_face  # noqa: E402
from discover_core.errors import InputError, WeightsError  # noqa: E402
from discover_core.interfaces import Context, Grounder, ImageMeta, Region  # noqa: E402
from discover_core.plugins import Registry  # noqa: E402
from discover_face.grounder import FaceGrounder, margin_score  # noqa: E402

META = ImageMeta("test.png")
ASTRONAUT_FACE = (165, 55, 260, 170)  # Eileen Collins, in the 512x512 astronaut image
HOPPER_FACE = (160, 125, 370, 330)  # Grace Hopper's face below the cap, in the 512x600 photo
CAMERAMAN_FACE = (190, 100, 265, 190)  # the cameraman's face, seen from the side


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_regions(regions, image):
    h, w = image.shape[:2]
    for r in regions:
        assert isinstance(r, Region)
        x0, y0, x1, y1 = r.box
        assert all(isinstance(v, float) for v in r.box)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0 < r.score <= 1
    assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)


@pytest.fixture(scope="module")
def opencv():
    return FaceGrounder()


@pytest.fixture(scope="module")
def frontal():
    """One cascade: about 4x faster than the default three (profile runs twice), enough for most tests."""
    return FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default"]))


@pytest.fixture(scope="module")
def skimage_lbp():
    return FaceGrounder(FaceGrounder.Options(detector="skimage"))


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


@pytest.fixture(scope="module")
def grace_hopper():
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


# -- finds faces ----------------------------------------------------------------------------

def test_astronaut_face_labelled_person(opencv, astronaut):
    regions = opencv.ground(astronaut, ["person"], META)
    check_regions(regions, astronaut)
    assert len(regions) == 1
    assert regions[0].label == "person"
    assert iou(regions[0].box, ASTRONAUT_FACE) > 0.5
    assert regions[0].score > 0.9  # a clear frontal face


def test_grace_hopper_face(opencv, grace_hopper):
    regions = opencv.ground(grace_hopper, ["face"], META)
    check_regions(regions, grace_hopper)
    assert len(regions) == 1
    assert iou(regions[0].box, HOPPER_FACE) > 0.5


def test_skimage_detector_finds_astronaut_face(skimage_lbp, astronaut):
    regions = skimage_lbp.ground(astronaut, ["face"], META)
    check_regions(regions, astronaut)
    assert all(r.score == 1.0 for r in regions)  # the LBP cascade gives no confidence
    assert max(iou(r.box, ASTRONAUT_FACE) for r in regions) > 0.5


def test_skimage_detector_finds_grace_hopper(skimage_lbp, grace_hopper):
    regions = skimage_lbp.ground(grace_hopper, ["face"], META)
    assert max(iou(r.box, HOPPER_FACE) for r in regions) > 0.5


def test_profile_cascade_needs_the_mirror_for_the_cameraman():
    camera = skdata.camera()  # grey (H, W) image, face turned to the right
    frontal = FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default", "frontalface_alt2"]))
    assert frontal.ground(camera, ["face"], META) == []
    one_side = FaceGrounder(FaceGrounder.Options(cascades=["profileface"], mirror_profile=False))
    assert one_side.ground(camera, ["face"], META) == []
    both = FaceGrounder(FaceGrounder.Options(cascades=["profileface"]))
    regions = both.ground(camera, ["face"], META)
    check_regions(regions, camera)
    assert len(regions) == 1 and iou(regions[0].box, CAMERAMAN_FACE) > 0.5


def test_cascades_are_merged_by_nms(astronaut):
    two = FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default", "frontalface_alt2"]))
    assert len(two.ground(astronaut, ["face"], META)) == 1  # both cascades find her: one box


# -- answers only to its labels -------------------------------------------------------------

def test_no_regions_for_other_labels(opencv, astronaut):
    assert opencv.ground(astronaut, ["cat"], META) == []
    assert opencv.ground(astronaut, [], META) == []


def test_label_is_the_first_matching_candidate(frontal, astronaut):
    regions = frontal.ground(astronaut, ["rocket", "Head", "person"], META)
    assert [r.label for r in regions] == ["Head"]


def test_aliases_option(astronaut):
    g = FaceGrounder(FaceGrounder.Options(aliases=["Astronaut"], cascades=["frontalface_default"]))
    assert [r.label for r in g.ground(astronaut, ["ASTRONAUT"], META)] == ["ASTRONAUT"]
    assert g.ground(astronaut, ["person", "face"], META) == []


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_faces_where_there_are_none(opencv, name):
    image = getattr(skdata, name)()  # a cup, a cat, a rocket launch
    assert opencv.ground(image, ["person"], META) == []


def test_skimage_finds_no_face_on_the_cat(skimage_lbp):
    assert skimage_lbp.ground(skdata.chelsea(), ["face"], META) == []


# -- options --------------------------------------------------------------------------------

def test_expand_grows_about_the_centre_and_clips(frontal, astronaut):
    (r,) = frontal.ground(astronaut, ["face"], META)
    grown = FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default"], expand=1.5))
    (g,) = grown.ground(astronaut, ["face"], META)
    w, _h = r.box[2] - r.box[0], r.box[3] - r.box[1]
    assert g.box[2] - g.box[0] == pytest.approx(1.5 * w)
    assert (g.box[0] + g.box[2]) / 2 == pytest.approx((r.box[0] + r.box[2]) / 2)
    huge = FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default"], expand=3.0))
    (x,) = huge.ground(astronaut, ["face"], META)
    assert x.box[1] == 0.0  # clipped at the top of the image
    check_regions([x], astronaut)


def test_min_size_in_pixels_and_fraction(astronaut):
    def found(min_size):
        opts = FaceGrounder.Options(cascades=["frontalface_default"], min_size=min_size)
        return len(FaceGrounder(opts).ground(astronaut, ["face"], META))

    # her face is about 92 px wide, the image 512 px
    assert (found(150), found(0.3), found(80), found(0.15)) == (0, 0, 1, 1)


def test_min_score(astronaut):
    g = FaceGrounder(FaceGrounder.Options(cascades=["frontalface_default"], min_score=0.999))
    assert g.ground(astronaut, ["face"], META) == []


def test_margin_score_is_a_logistic_in_0_1():
    assert margin_score(-3.0, -3.0, 72.0) == pytest.approx(1 / (1 + np.exp(2.5)))
    assert margin_score(0.75, -3.0, 72.0) == pytest.approx(0.5)
    assert 0.99 < margin_score(72.0, -3.0, 72.0) <= 1.0


def test_options_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError, match="extra"):
        FaceGrounder.Options(box_threshold=0.3)
    with pytest.raises(ValidationError):
        FaceGrounder.Options(cascades=["eyes"])
    with pytest.raises(ValidationError):
        FaceGrounder.Options(detector="dlib")
    with pytest.raises(ValidationError):
        FaceGrounder.Options(scale_factor=1.0)
    with pytest.raises(ValidationError):
        FaceGrounder.Options(aliases=[" "])
    assert all(f.description for f in FaceGrounder.Options.model_fields.values())


# -- errors ---------------------------------------------------------------------------------

def test_missing_cascade_file_names_it(tmp_path):
    opts = FaceGrounder.Options(cascade_file="models/my_faces.xml")
    with pytest.raises(WeightsError) as info:
        FaceGrounder(opts, Context(base_dir=tmp_path))
    assert str(tmp_path / "models" / "my_faces.xml") in info.value.message
    assert "cascade_file" in info.value.hint


@pytest.mark.parametrize("detector", ["opencv", "skimage"])
def test_cascade_file_that_is_not_a_cascade(tmp_path, detector):
    bad = tmp_path / "faces.xml"
    bad.write_text("<html>not a cascade</html>")
    with pytest.raises(WeightsError, match="faces.xml"):
        FaceGrounder(FaceGrounder.Options(detector=detector, cascade_file=str(bad)))


def test_skimage_refuses_a_haar_cascade():
    haar = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    with pytest.raises(WeightsError, match="not an LBP cascade"):
        FaceGrounder(FaceGrounder.Options(detector="skimage", cascade_file=str(haar)))


def test_user_cascade_file_is_used(astronaut):
    alt = Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt.xml"
    g = FaceGrounder(FaceGrounder.Options(cascade_file=str(alt)))
    assert [c.path for c in g._cascades] == [alt]
    (r,) = g.ground(astronaut, ["face"], META)
    assert iou(r.box, ASTRONAUT_FACE) > 0.5


def test_opencv_without_cascades_says_how_to_fix(monkeypatch):
    monkeypatch.delattr(cv2, "data")
    with pytest.raises(WeightsError) as info:
        FaceGrounder()
    assert "haarcascade_frontalface_default.xml" in info.value.message
    assert "opencv-python-headless<5" in info.value.hint


# -- any image ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 8, 3), (8, 8), (1, 1, 3), (0, 0, 3), (20, 600, 3), (23, 23)])
def test_tiny_images_give_no_regions(opencv, skimage_lbp, shape):  # no crash either
    image = np.full(shape, 128, np.uint8)
    assert opencv.ground(image, ["face"], META) == []
    assert skimage_lbp.ground(image, ["face"], META) == []


def test_grey_and_other_layouts(frontal, astronaut):
    opencv = frontal
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    want = opencv.ground(astronaut, ["face"], META)
    assert len(want) == 1
    assert opencv.ground(grey, ["face"], META) == want
    assert opencv.ground(grey[:, :, None], ["face"], META) == want
    assert opencv.ground(np.dstack([grey] * 3), ["face"], META) == want
    assert opencv.ground(astronaut.astype(np.uint16) * 257, ["face"], META) == want
    with pytest.raises(InputError):
        opencv.ground(np.zeros((8, 8, 2), np.uint8), ["face"], META)


# -- plugin ---------------------------------------------------------------------------------

def test_registered_as_grounder_face():
    reg = Registry()
    reg.add_plugin(discover_face, name="face")
    r = reg.get("grounder", "face")
    assert r.cls is FaceGrounder and issubclass(r.cls, Grounder)
    assert FaceGrounder.requires == ("cv2",) and FaceGrounder.extra == "vision"


def test_import_does_not_load_cv2():
    code = "import sys, discover_face; print('cv2' in sys.modules, 'skimage' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=None, cwd=Path(discover_face.__file__).parents[1])
    assert out.stdout.split() == ["False", "False"]
