"""Class names, the COCO-80 -> ImageNet mapping and label matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from discover_core.errors import InputError
from discover_core.labelsets import labels_file
from discover_imagenet.classes import imagenet_classes, normalise_label


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_imagenet_names_are_torchvisions():
    torchvision = pytest.importorskip("torchvision")
    names = _lines(labels_file("imagenet-1k.txt"))
    assert names == torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(names) == len(set(names)) == 1000
    assert imagenet_classes().names == tuple(names)


def test_coco_names_standard_order():
    torchvision = pytest.importorskip("torchvision")
    coco = _lines(labels_file("coco-80.txt"))
    meta = torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    assert coco == [c for c in meta if c not in ("__background__", "N/A")]
    assert len(coco) == 80


def test_synonyms_file_lines_up_with_the_names():
    classes = imagenet_classes()
    assert len(classes.synonyms) == 1000
    mismatched = [
        (i, n)
        for i, (n, syn) in enumerate(zip(classes.names, classes.synonyms))
        if n.casefold() not in {s.casefold() for s in syn}
    ]
    # torchvision renamed the two duplicated WordNet names; everything else lines up
    assert mismatched == [(134, "crane bird"), (639, "maillot tank suit")]


def test_coco_mapping_file():
    data = json.loads(labels_file("coco-80-to-imagenet-1k.json").read_text(encoding="utf-8"))
    mapping = data["mapping"]
    assert list(mapping) == _lines(labels_file("coco-80.txt"))
    seen: dict[int, str] = {}
    for name, idx in mapping.items():
        assert all(isinstance(i, int) and 0 <= i < 1000 for i in idx), name
        assert len(idx) == len(set(idx)), f"duplicates in {name}"
        for i in idx:
            assert i not in seen, f"class {i} in both {seen[i]} and {name}"
            seen[i] = name
    assert set(data["notes"]) <= set(mapping)
    names = imagenet_classes().names
    assert set(mapping["cat"]) == set(range(281, 286))
    assert set(mapping["dog"]) == set(range(151, 269))
    assert 383 not in mapping["cat"]  # Madagascar cat is a lemur
    assert names.index("sports car") in mapping["car"] and names.index("cab") in mapping["car"]
    assert mapping["giraffe"] == [] and mapping["kite"] == []
    assert {names.index(n) for n in ("cup", "coffee mug", "espresso")} <= set(mapping["cup"])


def test_matching_rules():
    c = imagenet_classes()
    assert normalise_label("  Tiger_Cat ") == "tiger cat"
    assert c.classes_for("TABBY") == {281}
    assert c.classes_for("tabby cat") == {281}  # a WordNet synonym
    assert c.classes_for("tabby cat", synonyms=False) == frozenset()
    assert c.classes_for("cat") == set(range(281, 286))  # a COCO name
    assert c.classes_for("kite") == {21}  # the bird by name; the COCO toy kite maps to nothing
    assert c.classes_for("crane") == {134, 517}  # synonym of both cranes
    assert c.classes_for("unicorn") == frozenset()
    m = c.match(["cat", "unicorn", "airplane", "cat"])
    assert list(m) == ["cat", "airplane"]
    assert m["airplane"] == {404, 895, 908}


def test_resolve_target():
    c = imagenet_classes()
    assert c.resolve_target(281) == {281}
    assert c.resolve_target("Egyptian cat") == {285}
    assert c.resolve_target(["tabby", 282]) == {281, 282}
    assert c.resolve_target("cat") == set(range(281, 286))
    import numpy as np

    assert c.resolve_target(np.int64(5)) == {5}
    with pytest.raises(InputError, match="1000"):
        c.resolve_target(1000)
    with pytest.raises(InputError, match="did you mean"):
        c.resolve_target("tabbby")
    with pytest.raises(InputError):
        c.resolve_target(True)
    with pytest.raises(InputError):
        c.resolve_target([])
