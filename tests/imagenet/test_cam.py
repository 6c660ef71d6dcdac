"""The cam grounder: boxes on real photos and the geometry of mapping maps back to the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discover_core.errors import ConfigError, InputError
from discover_core.interfaces import Context, ImageMeta, Region
from discover_imagenet import CamGrounder

META = ImageMeta("test.png")


def _centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


@pytest.mark.slow
def test_chelsea_cat(cam_grounder, photos):
    image = photos["chelsea"]
    regions = cam_grounder.ground(image, ["cat"], META)
    assert regions and all(isinstance(r, Region) and r.label == "cat" for r in regions)
    best = regions[0]
    assert best.score > 0.5  # the cat classes' probabilities, summed
    x0, y0, x1, y1 = best.box
    assert 0 <= x0 < x1 <= 451 and 0 <= y0 < y1 <= 300
    cx, cy = _centre(best.box)
    assert 140 <= cx <= 330 and 20 <= cy <= 290  # the cat's face
    # the box covers most of the face area x 140..330, y 20..290
    ix = max(0, min(x1, 330) - max(x0, 140)) * max(0, min(y1, 290) - max(y0, 20))
    assert ix / ((330 - 140) * (290 - 20)) > 0.7


@pytest.mark.slow
def test_absent_and_unknown_labels(cam_grounder, photos):
    assert cam_grounder.ground(photos["chelsea"], ["airplane"], META) == []
    assert cam_grounder.ground(photos["chelsea"], ["unicorn", "sky"], META) == []
    assert cam_grounder.ground(photos["chelsea"], [], META) == []


@pytest.mark.slow
def test_labels_keep_their_spelling_and_merge(cam_grounder, photos):
    regions = cam_grounder.ground(photos["chelsea"], ["tabby", "Cat", "dog"], META)
    labels = {r.label for r in regions}
    assert labels <= {"tabby", "Cat"} and "Cat" in labels
    cat = max(r.score for r in regions if r.label == "Cat")
    tabby = max((r.score for r in regions if r.label == "tabby"), default=0.0)
    assert cat > tabby  # "Cat" sums every cat class, "tabby" is one of them


@pytest.mark.slow
def test_coffee_cup(cam_grounder, photos):
    image = photos["coffee"]  # 600 x 400, the cup in the middle
    regions = cam_grounder.ground(image, ["cup", "person"], META)
    assert [r.label for r in regions][:1] == ["cup"]
    cx, cy = _centre(regions[0].box)
    assert 150 < cx < 450 and 50 < cy < 300


@pytest.mark.slow
def test_torchvision_backbone_and_shared_cache(mobilenet_v2, photos):
    g = CamGrounder(CamGrounder.Options(backbone="mobilenet_v2", min_probability=0.02))
    assert g.backbone is mobilenet_v2
    regions = g.ground(photos["chelsea"], ["cat"], META)
    assert regions and 140 <= _centre(regions[0].box)[0] <= 330


def test_one_forward_pass_per_image(cam_grounder, photos, monkeypatch):
    calls = []
    real = cam_grounder.backbone.features_and_logits
    monkeypatch.setattr(cam_grounder.backbone, "features_and_logits", lambda x: calls.append(x.shape) or real(x))
    cam_grounder.ground(photos["chelsea"], ["cat", "tabby", "dog", "airplane", "cup"], META)
    assert calls == [(1, 3, 224, 352)]  # whole image, shorter side 224, multiples of 32
    cam_grounder.ground(photos["chelsea"], ["unicorn"], META)
    assert len(calls) == 1  # no known label: no forward pass


def test_boxes_map_back_to_image_pixels(cam_grounder):
    """A map with one hot cell lands on the matching part of a non-square image."""
    cam = torch.zeros(7, 11)
    cam[2, 8] = 1.0  # row 2 of 7, column 8 of 11
    boxes = cam_grounder._boxes(cam, (352, 224), (902, 600))
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    cx, cy = _centre(boxes[0])
    assert abs(cx / 902 - 8.5 / 11) < 0.02 and abs(cy / 600 - 2.5 / 7) < 0.02
    assert 0 <= x0 < x1 <= 902 and 0 <= y0 < y1 <= 600
    assert all(type(v) is float for v in boxes[0])
    two = torch.zeros(7, 11)
    two[1, 1] = two[5, 9] = 1.0
    assert len(cam_grounder._boxes(two, (352, 224), (352, 224))) == 2
    two[5, 9] = 0.25  # below the 0.3 threshold
    assert len(cam_grounder._boxes(two, (352, 224), (352, 224))) == 1


def test_small_components_dropped(lite0):
    g = CamGrounder(CamGrounder.Options(min_area=0.2))
    cam = torch.zeros(7, 7)
    cam[3, 3] = 1.0
    assert g._boxes(cam, (224, 224), (224, 224)) == []


def test_bad_image(cam_grounder):
    with pytest.raises(InputError, match="uint8"):
        cam_grounder.ground(np.zeros((10, 10, 3), np.float32), ["cat"], META)
    with pytest.raises(InputError):
        cam_grounder.ground(np.zeros((10, 10), np.uint8), ["cat"], META)


def test_network_without_linear_head_is_refused(tmp_path):
    import timm

    model = timm.create_model("mobilenetv3_small_050")  # its conv_head comes after the pooling
    torch.save(model.state_dict(), tmp_path / "mnv3.pth")
    with pytest.raises(ConfigError, match="global average pooling") as e:
        options = CamGrounder.Options(backbone="mobilenetv3_small_050", weights="mnv3.pth")
        CamGrounder(options, Context(base_dir=tmp_path))
    assert "options.backbone" in str(e.value)


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="options.backbone"):
        CamGrounder(CamGrounder.Options(backbone="mobilenet_v9"))


def test_device_from_context_and_options():
    with pytest.raises(ConfigError, match="options.device"):
        CamGrounder(CamGrounder.Options(device="not-a-device"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="options.device"):
            CamGrounder(context=Context(device="cuda"))


def test_elongated_image_input_is_bounded(cam_grounder, monkeypatch):
    from discover_imagenet.preprocess import whole_image_input

    x, (w_in, h_in) = whole_image_input(np.zeros((20, 2000, 3), np.uint8), cam_grounder.backbone.preprocess, 224)
    assert (w_in, h_in) == (896, 224) and x.shape == (3, 224, 896)
    x, (w_in, h_in) = whole_image_input(np.zeros((5, 7, 3), np.uint8), cam_grounder.backbone.preprocess, 224)
    assert (w_in, h_in) == (320, 224)


def test_an_unsure_classifier_still_gives_its_top_class_a_region(lite0, photos):
    """No class of the top 5 reaches min_probability: the top class's map is the region (the head has an answer,
    so the task part must carry what it looks at); without the fallback there is no region at all."""
    image = photos["astronaut"]
    sure = CamGrounder(CamGrounder.Options(min_probability=1.0))
    regions = sure.ground(image, ["astronaut", "suit", "mortarboard", "bow tie", "lab coat", "cloak"]
                          + sorted(sure.classes.vocabulary(False)), META)
    assert regions and len({r.label for r in regions}) == 1
    off = CamGrounder(CamGrounder.Options(min_probability=1.0, fallback_top_class=False))
    assert off.ground(image, sorted(off.classes.vocabulary(False)), META) == []


def test_center_crop_view_clips_boxes_to_what_the_classifier_sees(cam_grounder, lite0, photos):
    image = photos["chelsea"]  # 451 x 300: the crop is 262.5 px square, centred
    whole = cam_grounder.ground(image, ["cat"], META)
    crop = CamGrounder(CamGrounder.Options(view="center-crop")).ground(image, ["cat"], META)
    side = 0.875 * 300
    x0, y0 = (451 - side) / 2, (300 - side) / 2
    assert crop and len(crop) <= len(whole)
    for r in crop:
        assert x0 - 1e-6 <= r.box[0] < r.box[2] <= x0 + side + 1e-6
        assert y0 - 1e-6 <= r.box[1] < r.box[3] <= y0 + side + 1e-6
