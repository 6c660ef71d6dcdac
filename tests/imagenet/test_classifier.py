"""The imagenet-classifier task head: prediction format and score maths."""

from __future__ import annotations

import numpy as np
import pytest

from discover_core.errors import InputError
from discover_imagenet import ImagenetClassifier


def P(*top):
    return {"classes": list(top), "probs": [1.0 / len(top)] * len(top), "labels": ["x"] * len(top)}


@pytest.fixture(scope="module")
def head():
    # score needs no network: build the head without running __init__'s model loading
    h = ImagenetClassifier.__new__(ImagenetClassifier)
    from discover_imagenet.classes import imagenet_classes

    h.options, h.classes = ImagenetClassifier.Options(), imagenet_classes()
    return h


def test_agreement(head):
    preds = [P(1, 2, 3, 4, 5), P(7, 8, 9, 10, 11), P(3, 1, 2, 4, 5), P(0, 9, 8, 7, 6)]
    refs = [P(1, 0, 0, 0, 0), P(7, 0, 0, 0, 0), P(1, 0, 0, 0, 0), P(5, 0, 0, 0, 0)]
    assert head.score(preds, refs) == {"agreement": 0.5, "agreement_top5": 0.75}


def test_accuracy_with_indices_names_and_lists(head):
    preds = [P(281, 1, 2, 3, 4), P(1, 2, 3, 4, 285), P(9, 8, 7, 6, 5), P(652, 457, 0, 0, 0)]
    targets = [281, "cat", "tench", [457, "military uniform"]]
    # 1: top-1 hit; 2: "cat" in the top 5 only; 3: tench (0) nowhere; 4: top-1 is in the list
    assert head.score(preds, targets=targets) == {"top1": 0.5, "top5": 0.75}


def test_top5_needs_five_classes(head):
    assert head.score([P(1), P(2)], targets=[1, 3]) == {"top1": 0.5}


def test_everything_together_and_empty(head):
    preds = [P(1, 2, 3, 4, 5)]
    assert head.score(preds, preds, [1]) == {"agreement": 1.0, "agreement_top5": 1.0, "top1": 1.0, "top5": 1.0}
    assert head.score([], [], []) == {}
    assert head.score(preds) == {}


def test_score_errors(head):
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        head.score([P(1), P(2)], [P(1)])
    with pytest.raises(InputError, match="targets"):
        head.score([P(1)], targets=[1, 2])
    with pytest.raises(InputError, match="prediction 1"):
        head.score([P(1), {"top5": [1]}])
    with pytest.raises(InputError, match="reference 0"):
        head.score([P(1)], [{"classes": []}])
    with pytest.raises(InputError, match="did you mean"):
        head.score([P(1)], targets=["tabyy"])


def test_predict_top_k_and_format(mobilenet_v2):
    head = ImagenetClassifier(ImagenetClassifier.Options(top_k=3))
    assert head.backbone is mobilenet_v2
    image = np.full((300, 200, 3), 128, np.uint8)
    pred = head.predict(image)
    assert len(pred["classes"]) == len(pred["probs"]) == len(pred["labels"]) == 3
    assert all(type(i) is int for i in pred["classes"]) and all(type(p) is float for p in pred["probs"])
    p = head.probabilities(image)
    assert p.shape == (1000,) and abs(p.sum() - 1) < 1e-4
    assert pred["classes"][0] == int(p.argmax())
