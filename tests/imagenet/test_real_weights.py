"""The real pretrained networks on real photos: right answers mean the weights are mapped and fed right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discover_imagenet.classes import imagenet_classes
from discover_imagenet.preprocess import classification_input

pytestmark = pytest.mark.slow

CATS = set(range(281, 286))
DRINKS = {967, 968, 504}  # espresso, cup, coffee mug
DRESS = {652, 834, 457, 906, 400, 667}  # military uniform, suit, bow tie, Windsor tie, academic gown, mortarboard


def _top(backbone, image, k=5):
    x = torch.from_numpy(classification_input(image, backbone.preprocess))[None]
    p = backbone.logits(x)[0].softmax(-1)
    v, i = p.topk(k)
    return i.tolist(), v.tolist()


@pytest.mark.parametrize("net", ["lite0", "mobilenet_v2"])
def test_photos(request, photos, net):
    backbone = request.getfixturevalue(net)
    idx, prob = _top(backbone, photos["chelsea"])
    assert idx[0] in CATS and sum(p for i, p in zip(idx, prob) if i in CATS) > 0.8
    idx, prob = _top(backbone, photos["coffee"])
    assert idx[0] in DRINKS and prob[0] > 0.9
    idx, prob = _top(backbone, photos["grace_hopper"])
    assert idx[0] in DRESS and 652 in idx  # military uniform among the top 5
    idx, _ = _top(backbone, photos["rocket"])
    assert {657, 744, 812} & set(idx)  # missile / projectile / space shuttle


def test_preprocessing_matches_the_libraries(photos, lite0, mobilenet_v2):
    import torchvision
    from PIL import Image

    pp = lite0.preprocess
    assert (pp.interpolation, pp.input_size, pp.resize_size) == ("bicubic", 224, 256)
    assert np.allclose(np.asarray(pp.mean) * 255, 127) and np.allclose(np.asarray(pp.std) * 255, 128)
    t = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    for name in ("chelsea", "grace_hopper"):
        ref = t(Image.fromarray(photos[name])).numpy()
        assert np.array_equal(classification_input(photos[name], mobilenet_v2.preprocess), ref)


def test_classifier_head_on_photos(classifier, photos):
    import json

    pred = classifier.predict(photos["chelsea"])
    json.dumps(pred)
    assert set(pred) == {"classes", "probs", "labels"} and len(pred["classes"]) == 5
    assert pred["classes"][0] in CATS
    assert pred["labels"] == [imagenet_classes().names[i] for i in pred["classes"]]
    assert pred["probs"] == sorted(pred["probs"], reverse=True)
    preds = [classifier.predict(photos[n]) for n in ("chelsea", "coffee", "grace_hopper")]
    assert classifier.score(preds, preds, ["cat", "espresso", [652, "bow tie"]]) == {
        "agreement": 1.0,
        "agreement_top5": 1.0,
        "top1": 1.0,
        "top5": 1.0,
    }
    # a blurred, shrunken copy: the head still sees a cat
    from PIL import Image

    small = np.asarray(Image.fromarray(photos["chelsea"]).resize((56, 38)).resize((451, 300)))
    assert classifier.score([classifier.predict(small)], targets=["cat"])["top5"] == 1.0
