"""COCO-80 names, ids and the other names candidate labels may use."""

from __future__ import annotations

from discover_centernet import labels


def test_classes_follow_the_preset_and_official_ids():
    names = labels.coco_names()
    assert len(names) == 80 == len(set(labels.COCO_IDS))
    assert (names[0], labels.COCO_IDS[0]) == ("person", 1)
    assert (names[15], labels.COCO_IDS[15]) == ("cat", 17)
    assert (names[79], labels.COCO_IDS[79]) == ("toothbrush", 90)
    assert labels.names_of([1, 4, 67]) == ["person", "motorcycle", "dining table"]


def test_aliases_and_spellings():
    idx = {n: i for i, n in enumerate(labels.coco_names())}
    for word, coco in [("People", "person"), ("woman", "person"), ("motorbike", "motorcycle"), ("sofa", "couch"),
                       ("tv monitor", "tv"), ("TVMonitor", "tv"), ("dining_table", "dining table"),
                       ("Hair  Dryer", "hair drier"), ("aeroplane", "airplane")]:
        assert labels.classes_of(word) == {idx[coco]}, word
    assert labels.classes_of("square") == frozenset()


def test_imagenet_class_names_map_to_their_coco_category():
    idx = {n: i for i, n in enumerate(labels.coco_names())}
    assert labels.classes_of("tabby") == {idx["cat"]}
    assert labels.classes_of("moped") == {idx["motorcycle"]}


def test_match_prefers_the_coco_name_and_keeps_the_spelling():
    idx = {n: i for i, n in enumerate(labels.coco_names())}
    assert labels.match(["Man", "PERSON"]) == {idx["person"]: "PERSON"}
    assert labels.match(["woman", "man"]) == {idx["person"]: "woman"}
    assert labels.match(["Motorbike", "kitty", "nothing"]) == {idx["motorcycle"]: "Motorbike", idx["cat"]: "kitty"}


def test_category_id():
    assert labels.category_id(17) == 17 and labels.category_id("cat") == 17 and labels.category_id("sofa") == 63
    assert labels.category_id(12) is None and labels.category_id(101) is None  # 12 is not one of the 80
    assert labels.category_id("rocket") is None and labels.category_id(True) is None
