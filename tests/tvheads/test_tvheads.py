"""torchvision R-CNN heads (coco-detector's faster-rcnn backend, coco-instance-segmenter): random-init models saved
and loaded by path; AP on hand-made predictions with known answers. (resnet50-classifier: tests/imagenet.)"""

import numpy as np
import pytest

from discover_core.errors import WeightsError
from discover_core.pipeline import pipeline_from_dict


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch
    import torchvision.models.detection as tvd

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    out = {}
    for name, build in (("frcnn", tvd.fasterrcnn_resnet50_fpn), ("mrcnn", tvd.maskrcnn_resnet50_fpn)):
        torch.save(build(weights=None, weights_backbone=None, num_classes=91).state_dict(), folder / f"{name}.pt")
        out[name] = folder / f"{name}.pt"
    return out


def _head(plugin, options):
    p = pipeline_from_dict({
        "schema_version": 2,
        "tasks": [{"name": "t", "label_source": {"plugin": "static", "options": {"labels": ["cat"]}},
                   "task_heads": [{"plugin": plugin, "options": options}]}],
        "grounders": [{"plugin": "boxes", "options": {"file": "x.json", "missing": "empty"}}],
        "entropy_model": {"plugin": "roi-image", "options": {}}, "composer": {"plugin": "paste"}})
    return p.task_heads[0]


SMALL = {"min_size": 64, "max_size": 96, "score_threshold": 0.0}
FRCNN = {"backend": "faster-rcnn"}  # coco-detector on torchvision Faster R-CNN R50-FPN


def _pred(boxes, scores, cats, size=(100, 100), masks=None):
    p = {"size": list(size), "boxes": boxes, "scores": scores, "category_ids": cats, "labels": ["cat"] * len(cats)}
    if masks is not None:
        p["masks"] = masks
    return p


def test_faster_rcnn_loads_a_state_dict_by_path_and_predicts_the_shared_format(weights):
    head = _head("coco-detector", {**FRCNN, "weights": str(weights["frcnn"]), **SMALL})
    image = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    pred = head.predict(image)
    assert pred["size"] == [80, 60] and len(pred["boxes"]) == len(pred["scores"]) == len(pred["category_ids"])
    assert all(c in range(1, 91) for c in pred["category_ids"])
    assert head.weights_fingerprint().startswith("sha256:")
    assert head.score([pred], references=[pred])["agreement"] == pytest.approx(1.0)  # itself: full agreement


def test_box_ap_on_hand_made_predictions(weights):
    head = _head("coco-detector", {**FRCNN, "weights": str(weights["frcnn"]), **SMALL})
    gt = [{"bbox": [10, 10, 30, 30], "category_id": "cat"}, {"bbox": [50, 50, 40, 40], "category_id": 17}]
    perfect = _pred([[10, 10, 40, 40], [50, 50, 90, 90]], [0.9, 0.8], [17, 17])
    assert head.score([perfect], targets=[gt])["ap"] == pytest.approx(1.0)
    # a false positive ranked first, then one of the two true boxes: recall 0.5 at precision 0.5 -> 51 / 101 * 0.5
    half = _pred([[0, 60, 5, 70], [10, 10, 40, 40]], [0.9, 0.8], [17, 17])
    assert head.score([half], targets=[gt])["ap"] == pytest.approx(0.5 * 51 / 101, abs=1e-4)
    # agreement: the reference's confident detections are the truth
    assert head.score([perfect], references=[perfect])["agreement"] == pytest.approx(1.0)
    assert head.score([half], references=[perfect])["agreement"] == pytest.approx(0.5 * 51 / 101, abs=1e-4)


def test_dataset_level_ap_is_not_a_mean_of_per_image_aps(weights):
    head = _head("coco-detector", {**FRCNN, "weights": str(weights["frcnn"]), **SMALL})
    gts = [[{"bbox": [10, 10, 30, 30], "category_id": 17}], [{"bbox": [10, 10, 30, 30], "category_id": 17}]]
    good = _pred([[10, 10, 40, 40]], [0.5], [17])
    wrong = _pred([[60, 60, 90, 90]], [0.9], [17])
    per_image = [head.score([p], targets=[g])["ap"] for p, g in zip([good, wrong], gts)]
    dataset = head.score([good, wrong], targets=gts)["ap"]
    assert per_image == [pytest.approx(1.0), 0.0]
    # ranked over the dataset: FP (0.9) then TP (0.5): precision 0.5 up to recall 0.5
    assert dataset == pytest.approx(0.5 * 51 / 101, abs=1e-4) and dataset != pytest.approx(np.mean(per_image))


def test_mask_rcnn_predicts_rle_masks_and_scores_mask_ap(weights):
    from discover_core.coco_ap import encode_mask

    head = _head("coco-instance-segmenter", {"weights": str(weights["mrcnn"]), **SMALL})
    pred = head.predict((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8))
    assert len(pred["masks"]) == len(pred["boxes"]) and all(set(m) == {"size", "counts"} for m in pred["masks"])
    square = np.zeros((100, 100), bool)
    square[10:40, 10:40] = True
    elsewhere = np.zeros((100, 100), bool)
    elsewhere[60:90, 60:90] = True
    gt = [{"bbox": [10, 10, 30, 30], "category_id": 17, "segmentation": [[10, 10, 40, 10, 40, 40, 10, 40]]}]
    hit = _pred([[10, 10, 40, 40]], [0.9], [17], masks=[encode_mask(square)])
    # right box, wrong mask: box AP 1, mask AP 0
    miss = _pred([[10, 10, 40, 40]], [0.9], [17], masks=[encode_mask(elsewhere)])
    s_hit, s_miss = head.score([hit], targets=[gt]), head.score([miss], targets=[gt])
    assert s_hit["mask_ap50"] == pytest.approx(1.0) and s_hit["ap"] == pytest.approx(1.0)
    assert s_miss["mask_ap"] == 0.0 and s_miss["ap"] == pytest.approx(1.0)
    assert head.score([miss], references=[hit])["agreement_mask_ap"] == 0.0
    assert head.score([hit], references=[hit])["agreement_mask_ap"] == pytest.approx(1.0)


def test_weights_errors_name_the_file(weights, tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match="nope.pt"):
        _head("coco-detector", {**FRCNN, "weights": str(tmp_path / "nope.pt")})
    with pytest.raises(WeightsError, match="does not fit"):
        _head("coco-detector", {**FRCNN, "weights": str(weights["mrcnn"]), "min_size": 65})
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match=r"checkpoints/fasterrcnn_resnet50_fpn_coco-258fb6c6\.pth is missing"):
        _head("coco-detector", {**FRCNN, "weights": "FasterRCNN_ResNet50_FPN_Weights.COCO_V1", "min_size": 66})
    with pytest.raises(WeightsError, match=r"checkpoints/fasterrcnn_resnet50_fpn_coco-258fb6c6\.pth is missing"):
        _head("coco-detector", {**FRCNN, "min_size": 67})  # no weights on this backend: torchvision's COCO_V1


# -- the whole task-head contract, on the random-init weights ---------------------------------------------------
from discover_core.testing import TaskHeadContract, TaskHeadOptionsContract  # noqa: E402
from discover_centernet import CocoDetector  # noqa: E402
from discover_tvheads import MaskRcnnSegmenter  # noqa: E402


class TestCocoDetectorFasterRcnn(TaskHeadOptionsContract):
    """coco-detector's behaviour suite on the faster-rcnn backend (its class checks run in tests/centernet)."""

    component_class = CocoDetector

    @pytest.fixture
    def options_dict(self, weights):
        return {**FRCNN, "weights": str(weights["frcnn"]), **SMALL}


class TestMaskRcnnContract(TaskHeadContract):
    component_class = MaskRcnnSegmenter

    @pytest.fixture
    def options_dict(self, weights):
        return {"weights": str(weights["mrcnn"]), **SMALL}
