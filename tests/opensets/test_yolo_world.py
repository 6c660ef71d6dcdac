"""The yolo-world grounder on yolov8n-worldv2 built from ultralytics' yaml, with injected text embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("ultralytics")

from discover_core.errors import WeightsError
from discover_core.interfaces import Context, ImageMeta
from discover_core.testing import GrounderContract
from discover_opensets.embeddings import write_embeddings
from discover_opensets.yolo_world import YoloWorld

META = ImageMeta("sample.png")


def image(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def build(model, emb=None, tmp=None, **opts):
    options = {"model": str(model), "conf": 0.0, "imgsz": 96, **({"text_embeddings": str(emb)} if emb else {}),
               **opts}
    return YoloWorld(YoloWorld.Options(**options), Context())


def test_grounds_with_embeddings_from_a_file(tiny_yolo_world, yolo_embeddings):
    g = build(tiny_yolo_world, yolo_embeddings)
    labels = ["cat", "Dog", "traffic"]
    regions = g.ground(image(), labels, META)
    assert regions and {r.label for r in regions} <= set(labels)
    assert all(0 <= r.box[0] < r.box[2] <= 160 and 0 <= r.box[1] < r.box[3] <= 120 for r in regions)
    feats = g.model.txt_feats
    assert tuple(feats.shape) == (1, 3, 512) and g.model.model[-1].nc == 3
    from discover_opensets.embeddings import read_embeddings

    rows = read_embeddings(yolo_embeddings)
    np.testing.assert_allclose(feats[0, 1].numpy(), rows["dog"], atol=1e-6)  # label -> its row, normalised


def test_classes_are_set_once_per_label_set(tiny_yolo_world, yolo_embeddings, monkeypatch):
    g = build(tiny_yolo_world, yolo_embeddings)
    calls = []
    real = g.embed
    monkeypatch.setattr(g, "embed", lambda labels: calls.append(tuple(labels)) or real(labels))
    for seed in range(3):
        g.ground(image(seed=seed), ["cat", "dog"], META)
    assert calls == [("cat", "dog")]
    g.ground(image(), ["bird"], META)
    g.ground(image(), ["bird"], META)
    assert calls == [("cat", "dog"), ("bird",)]
    assert {r.label for r in g.ground(image(), ["bird"], META)} <= {"bird"}


def test_labels_missing_from_the_file_name_it(tiny_yolo_world, yolo_embeddings):
    g = build(tiny_yolo_world, yolo_embeddings)
    with pytest.raises(WeightsError, match=r"labels.safetensors has no text embedding for 2 candidate label\(s\): "
                                           r"'zebra', 'giraffe'") as err:
        g.ground(image(), ["cat", "zebra", "giraffe"], META)
    assert "clip_model" in err.value.hint


def test_no_embeddings_at_all_fails_validation(tmp_path, capsys):
    import yaml
    from discover_core.cli import main

    data = {"schema_version": 2, "tasks": [{"name": "detection", "label_source": {
                "plugin": "static", "options": {"labels": ["cat"]}}}],
            "grounders": [{"plugin": "yolo-world", "options": {"model": "yolov8s-worldv2.pt"}}],
            "entropy_model": {"plugin": "roi-image"}, "composer": {"plugin": "paste"}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    assert main(["validate", str(tmp_path / "p.yaml")]) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "grounders[0].options" in text and "text_embeddings" in text and "clip_model" in text


def test_npy_with_its_labels_file(tiny_yolo_world, tmp_path):
    rows = np.random.default_rng(1).normal(size=(2, 512)).astype("float32")
    np.save(tmp_path / "emb.npy", rows)
    with pytest.raises(WeightsError, match=r"emb.txt"):
        build(tiny_yolo_world, tmp_path / "emb.npy")
    (tmp_path / "emb.txt").write_text("Cat\ndog\n")
    g = build(tiny_yolo_world, tmp_path / "emb.npy")
    assert {r.label for r in g.ground(image(), ["cat", "dog"], META)} <= {"cat", "dog"}


def test_wrong_dimension(tiny_yolo_world, tmp_path):
    write_embeddings(tmp_path / "small.safetensors", ["cat"], np.ones((1, 64), "float32"))
    with pytest.raises(WeightsError, match="64 values per row; this model takes 512"):
        build(tiny_yolo_world, tmp_path / "small.safetensors")


def test_missing_weights_file(tmp_path, yolo_embeddings):
    with pytest.raises(WeightsError, match="YOLO-World weights"):
        YoloWorld(YoloWorld.Options(model="yolov8s-worldv2.pt", text_embeddings=str(yolo_embeddings)),
                  Context(base_dir=tmp_path, cache_dir=tmp_path / "cache"))


def test_offline_and_home_untouched(tmp_path, yolo_embeddings):
    """In a fresh interpreter: no connection is attempted, nothing is written to $HOME, settings go to our cache."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    script = textwrap.dedent(f"""
        import json, socket
        tried = []
        real = socket.socket.connect
        def guard(self, addr):
            tried.append(repr(addr))
            raise OSError("network disabled in this test")
        socket.socket.connect = guard
        socket.create_connection = lambda *a, **k: guard(None, a[0] if a else None)
        import numpy as np, torch
        from discover_core.interfaces import Context, ImageMeta
        from discover_opensets.yolo_world import YoloWorld
        torch.manual_seed(0)
        g = YoloWorld(YoloWorld.Options(model="yolov8n-worldv2.yaml", imgsz=64, conf=0.0,
                                        text_embeddings={str(yolo_embeddings)!r}), Context())
        img = np.zeros((70, 90, 3), np.uint8)
        regions = g.ground(img, ["cat", "dog"], ImageMeta("x"))
        print(json.dumps({{"tried": tried, "regions": len(regions)}}))
    """)
    env = {**os.environ, "HOME": str(home), "DISCOVER_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(home / ".config"),
           "OMP_NUM_THREADS": "1"}
    for var in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tried"] == [] and result["regions"] > 0
    assert list(home.iterdir()) == []
    assert (cache / "ultralytics" / "Ultralytics" / "settings.json").is_file()
    assert json.loads((cache / "ultralytics" / "Ultralytics" / "settings.json").read_text())["sync"] is False


def test_opencv_headless_keeps_the_haar_cascades():
    """ultralytics is installed without opencv-python, so opencv-python-headless<5 and its cascades stay."""
    import importlib.metadata as md
    from pathlib import Path

    import cv2

    assert int(cv2.__version__.split(".")[0]) < 5
    assert (Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").is_file()
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("opencv-python")


class TestYoloWorldContract(GrounderContract):
    component_class = YoloWorld

    @pytest.fixture
    def options_dict(self, tiny_yolo_world, yolo_embeddings):
        return {"model": str(tiny_yolo_world), "text_embeddings": str(yolo_embeddings), "conf": 0.0, "imgsz": 64}

    @pytest.fixture
    def grounder_labels(self):
        return ["cat", "dog", "person"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from discover_opensets.tiny import tiny_clip_text

    return tiny_clip_text(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_local_clip_encodes_the_labels(tiny_yolo_world, tiny_clip):
    from discover_opensets.embeddings import LocalClip

    g = build(tiny_yolo_world, clip_model=str(tiny_clip))
    regions = g.ground(image(), ["zebra", "Giraffe"], META)
    assert {r.label for r in regions} <= {"zebra", "Giraffe"}
    want = LocalClip(tiny_clip).encode(["zebra", "Giraffe"])
    np.testing.assert_allclose(g.model.txt_feats[0].numpy(), want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(want, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(want[0], want[1])


def test_local_clip_fills_in_what_the_file_lacks(tiny_yolo_world, yolo_embeddings, tiny_clip):
    from discover_opensets.embeddings import LocalClip, read_embeddings

    g = build(tiny_yolo_world, yolo_embeddings, clip_model=str(tiny_clip))
    g.ground(image(), ["cat", "zebra"], META)
    np.testing.assert_allclose(g.model.txt_feats[0, 0].numpy(), read_embeddings(yolo_embeddings)["cat"], atol=1e-6)
    np.testing.assert_allclose(g.model.txt_feats[0, 1].numpy(), LocalClip(tiny_clip).encode(["zebra"])[0],
                               atol=1e-5)


def test_local_clip_of_another_size(tiny_yolo_world, tmp_path):
    from discover_opensets.tiny import tiny_clip_text

    folder = tiny_clip_text(tmp_path / "clip-256", projection_dim=256)
    with pytest.raises(WeightsError, match="gives 256 values per label; this model takes 512"):
        build(tiny_yolo_world, clip_model=str(folder))
    with pytest.raises(WeightsError, match="not a transformers CLIP folder"):
        (tmp_path / "empty").mkdir()
        build(tiny_yolo_world, clip_model=str(tmp_path / "empty"))


def test_building_it_leaves_pillow_alone(tmp_path, tiny_yolo_world, yolo_embeddings):
    """ultralytics patches PIL.Image.open at import; after a build, a garbage file is still a clear InputError."""
    import PIL.Image
    import ultralytics.utils.patches as patches

    from discover_core.errors import InputError
    from discover_core.images import load_image

    PIL.Image.open = patches.image_open  # as importing ultralytics leaves it
    build(tiny_yolo_world, yolo_embeddings)
    assert PIL.Image.open is patches._image_open
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"certainly not an image")
    with pytest.raises(InputError, match="not an image"):
        load_image(garbage)
