"""COCO AP on hand-made detections whose AP is known, and the head's agreement / target scores."""

from __future__ import annotations

import pytest

from discover_centernet.coco_eval import coco_ap

pytest.importorskip("faster_coco_eval")

GT = [{"box": [10, 10, 110, 110], "category_id": 1}]


def det(box, score=0.9, cat=1):
    return {"box": box, "score": score, "category_id": cat}


def test_perfect_detection():
    assert coco_ap([GT], [[det([10, 10, 110, 110])]]) == {"ap": 1.0, "ap50": 1.0, "ap75": 1.0}


def test_iou_0_6_counts_at_three_of_ten_thresholds():
    # [10, 10, 70, 110] inside the 100 x 100 truth: IoU 0.6, matched at 0.50, 0.55, 0.60 only
    ap = coco_ap([GT], [[det([10, 10, 70, 110])]])
    assert ap["ap50"] == pytest.approx(1.0) and ap["ap75"] == 0.0 and ap["ap"] == pytest.approx(0.3)


def test_half_recall():
    truth = [GT + [{"box": [200, 200, 300, 300], "category_id": 1}]]
    # precision 1 up to recall 0.5 on COCO's 101 recall points: 51 / 101
    assert coco_ap(truth, [[det([10, 10, 110, 110])]])["ap"] == pytest.approx(51 / 101)


def test_a_better_scored_false_positive():
    truth = [GT + [{"box": [200, 200, 300, 300], "category_id": 1}]]
    dets = [[det([400, 400, 450, 450], 0.95), det([10, 10, 110, 110], 0.9), det([200, 200, 300, 300], 0.5)]]
    # precision 1/2 at recall 0.5 and 2/3 at recall 1; interpolated: 2/3 everywhere
    assert coco_ap(truth, dets)["ap"] == pytest.approx(2 / 3)


def test_wrong_category_and_no_detections():
    assert coco_ap([GT], [[det([10, 10, 110, 110], cat=2)]])["ap"] == 0.0
    assert coco_ap([GT], [[]]) == {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}


def test_mean_over_images_and_categories():
    truth = [GT, [{"box": [0, 0, 50, 50], "category_id": 3}]]
    dets = [[det([10, 10, 110, 110])], [det([0, 0, 25, 50], cat=3)]]  # category 3: IoU 0.5 -> AP 0.1
    assert coco_ap(truth, dets)["ap"] == pytest.approx((1.0 + 0.1) / 2)


def test_no_ground_truth_is_undefined():
    assert coco_ap([[]], [[det([1, 1, 5, 5])]]) is None
    with pytest.raises(ValueError):
        coco_ap([GT], [])
