"""The core's COCO-80 vocabulary (names, ids, the other names candidate labels may use) and COCO AP on
hand-made detections whose AP is known."""

from __future__ import annotations

import importlib.util

import pytest

from discover_core import coco
from discover_core.coco_ap import coco_ap


def test_classes_follow_the_preset_and_official_ids():
    names = coco.coco_names()
    assert len(names) == 80 == len(set(coco.COCO_IDS))
    assert (names[0], coco.COCO_IDS[0]) == ("person", 1)
    assert (names[15], coco.COCO_IDS[15]) == ("cat", 17)
    assert (names[79], coco.COCO_IDS[79]) == ("toothbrush", 90)
    assert coco.names_of([1, 4, 67]) == ["person", "motorcycle", "dining table"]


def test_aliases_and_spellings():
    idx = {n: i for i, n in enumerate(coco.coco_names())}
    for word, name in [("People", "person"), ("woman", "person"), ("motorbike", "motorcycle"), ("sofa", "couch"),
                       ("tv monitor", "tv"), ("TVMonitor", "tv"), ("dining_table", "dining table"),
                       ("Hair  Dryer", "hair drier"), ("aeroplane", "airplane")]:
        assert coco.classes_of(word) == {idx[name]}, word
    assert coco.classes_of("square") == frozenset()


def test_imagenet_class_names_map_to_their_coco_category():
    idx = {n: i for i, n in enumerate(coco.coco_names())}
    assert coco.classes_of("tabby") == {idx["cat"]}
    assert coco.classes_of("moped") == {idx["motorcycle"]}


def test_match_prefers_the_coco_name_and_keeps_the_spelling():
    idx = {n: i for i, n in enumerate(coco.coco_names())}
    assert coco.match(["Man", "PERSON"]) == {idx["person"]: "PERSON"}
    assert coco.match(["woman", "man"]) == {idx["person"]: "woman"}
    assert coco.match(["Motorbike", "kitty", "nothing"]) == {idx["motorcycle"]: "Motorbike", idx["cat"]: "kitty"}


def test_category_id():
    assert coco.category_id(17) == 17 and coco.category_id("cat") == 17 and coco.category_id("sofa") == 63
    assert coco.category_id(12) is None and coco.category_id(101) is None  # 12 is not one of the 80
    assert coco.category_id("rocket") is None and coco.category_id(True) is None


# -- COCO AP ---------------------------------------------------------------------------------------------------
needs_coco_eval = pytest.mark.skipif(importlib.util.find_spec("faster_coco_eval") is None,
                                     reason="faster-coco-eval is not installed")

GT = [{"box": [10, 10, 110, 110], "category_id": 1}]


def det(box, score=0.9, cat=1):
    return {"box": box, "score": score, "category_id": cat}


@needs_coco_eval
def test_perfect_detection():
    assert coco_ap([GT], [[det([10, 10, 110, 110])]]) == {"ap": 1.0, "ap50": 1.0, "ap75": 1.0}


@needs_coco_eval
def test_iou_0_6_counts_at_three_of_ten_thresholds():
    # [10, 10, 70, 110] inside the 100 x 100 truth: IoU 0.6, matched at 0.50, 0.55, 0.60 only
    ap = coco_ap([GT], [[det([10, 10, 70, 110])]])
    assert ap["ap50"] == pytest.approx(1.0) and ap["ap75"] == 0.0 and ap["ap"] == pytest.approx(0.3)


@needs_coco_eval
def test_half_recall():
    truth = [GT + [{"box": [200, 200, 300, 300], "category_id": 1}]]
    # precision 1 up to recall 0.5 on COCO's 101 recall points: 51 / 101
    assert coco_ap(truth, [[det([10, 10, 110, 110])]])["ap"] == pytest.approx(51 / 101)


@needs_coco_eval
def test_a_better_scored_false_positive():
    truth = [GT + [{"box": [200, 200, 300, 300], "category_id": 1}]]
    dets = [[det([400, 400, 450, 450], 0.95), det([10, 10, 110, 110], 0.9), det([200, 200, 300, 300], 0.5)]]
    # precision 1/2 at recall 0.5 and 2/3 at recall 1; interpolated: 2/3 everywhere
    assert coco_ap(truth, dets)["ap"] == pytest.approx(2 / 3)


@needs_coco_eval
def test_wrong_category_and_no_detections():
    assert coco_ap([GT], [[det([10, 10, 110, 110], cat=2)]])["ap"] == 0.0
    assert coco_ap([GT], [[]]) == {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}


@needs_coco_eval
def test_mean_over_images_and_categories():
    truth = [GT, [{"box": [0, 0, 50, 50], "category_id": 3}]]
    dets = [[det([10, 10, 110, 110])], [det([0, 0, 25, 50], cat=3)]]  # category 3: IoU 0.5 -> AP 0.1
    assert coco_ap(truth, dets)["ap"] == pytest.approx((1.0 + 0.1) / 2)


@needs_coco_eval
def test_no_ground_truth_is_undefined():
    assert coco_ap([[]], [[det([1, 1, 5, 5])]]) is None
    with pytest.raises(ValueError):
        coco_ap([GT], [])
