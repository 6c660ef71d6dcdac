import json

import numpy as np
import pytest
from PIL import Image

from discover_core.errors import InputError
from discover_core.evaluate import open_dataset

import eval_helpers as h


def test_folder_lists_images_in_order_and_loads_them(folder):
    ds = open_dataset(f"folder:{folder}")
    assert [i.name for i in ds.items] == ["img0.png", "img1.png", "img2.png"]
    img, meta = ds.items[2].load()
    assert img.shape == (96, 128, 3) and meta.name == "img2.png"
    assert open_dataset(str(folder)).kind == "folder"  # a bare folder


def test_fingerprint_follows_the_pixels(folder):
    a = open_dataset(f"folder:{folder}").fingerprint
    assert open_dataset(f"folder:{folder}").fingerprint == a
    Image.fromarray(h.image(96, 64, 99)).save(folder / "img0.png")
    assert open_dataset(f"folder:{folder}").fingerprint != a
    assert open_dataset(f"folder:{folder},limit=2").fingerprint != open_dataset(f"folder:{folder}").fingerprint


def test_coco_targets_use_category_names_and_keep_segmentation(coco):
    ds = open_dataset(f"coco:{coco}")
    assert [i.id for i in ds.items] == [10, 11, 12]
    first, second, third = ds.items
    assert first.targets["detection"] == [{"bbox": [4.0, 4.0, 20.0, 10.0], "category_id": "cat", "iscrowd": 0}]
    assert second.targets["detection"] == [] and second.targets["segmentation"] == []  # boxes serve both tasks
    assert third.targets["segmentation"][0]["segmentation"] == [[1, 2, 31, 2, 31, 42, 1, 42]]
    assert open_dataset(str(coco)).kind == "coco"


def test_coco_with_missing_image_names_it(coco):
    (coco.parent / "img1.png").unlink()
    with pytest.raises(InputError, match="img1.png"):
        open_dataset(f"coco:{coco}")


def test_class_folders_give_index_name_or_wnid_targets(tmp_path):
    for name in ("281", "tabby_cat"):
        h.image_folder(tmp_path / "cls" / name, sizes=[(32, 32)])
    ds = open_dataset(f"classes:{tmp_path / 'cls'}")
    assert [(i.name, i.targets["classification"]) for i in ds.items] == [("281/img0.png", 281),
                                                                          ("tabby_cat/img0.png", "tabby cat")]
    h.image_folder(tmp_path / "wn" / "n01440764", sizes=[(32, 32)])
    with pytest.raises(InputError, match="wnids="):
        open_dataset(f"classes:{tmp_path / 'wn'}")
    (tmp_path / "map.txt").write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n")
    ds = open_dataset(f"classes:{tmp_path / 'wn'},wnids={tmp_path / 'map.txt'}")
    assert ds.items[0].targets["classification"] == 0


def test_bad_specs_are_one_readable_error(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        open_dataset(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(InputError, match="cannot read"):
        open_dataset(f"folder:{tmp_path},colour=red")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        open_dataset(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="not readable JSON"):
        open_dataset(f"coco:{tmp_path / 'bad.json'}")


def test_demo_dataset_is_the_bundled_coco_annotations(tmp_path):
    demo = open_dataset("demo,limit=2")
    assert [i.name for i in demo.items] == ["astronaut.png", "chelsea.png"]
    assert demo.items[1].targets["classification"] == [281, 282, 285]
    assert {a["category_id"] for a in demo.items[1].targets["detection"]} == {"cat"}
    on_demo = open_dataset(f"coco:{h.__file__},images=demo".replace(h.__file__, _demo_json()))
    assert [i.name for i in on_demo.items][:2] == ["astronaut.png", "chelsea.png"]
    img, _ = on_demo.items[1].load()
    assert np.array_equal(img, demo.items[1].load()[0])


def _demo_json() -> str:
    from importlib import resources

    return str(resources.files("discover_core").joinpath("data/demo/annotations.json"))


def test_export_demo_writes_a_coco_dataset(tmp_path):
    from discover_core.evaluate import export_demo

    ann = export_demo(tmp_path / "demo")
    ds = open_dataset(f"coco:{ann},limit=1")
    assert ds.items[0].load()[0].shape == (512, 512, 3)
    assert json.loads(ann.read_text())["images"][0]["file_name"] == "astronaut.png"
