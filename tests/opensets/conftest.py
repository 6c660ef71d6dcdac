import pytest

WORDS = ["cat", "dog", "person", "car", "bus", "traffic", "light", "street", "fire", "hydrant", "bird", "kite",
         "face", "tabby", "tiger", "stop", "sign", "potted", "plant", "hair", "dryer"] + [f"w{i}" for i in range(400)]


@pytest.fixture(autouse=True)
def _pillow_as_pillow_made_it():
    """Tests here import ultralytics directly, which patches PIL.Image.open for the whole process; undo it after
    each test, as the yolo-world grounder does when it is built, so tests elsewhere see Pillow's own function."""
    yield
    import sys

    if "ultralytics" in sys.modules:
        from discover_opensets.yolo_world import undo_pil_open_patch

        undo_pil_open_patch()


@pytest.fixture(scope="session")
def tiny_gdino(tmp_path_factory):
    pytest.importorskip("transformers")
    from discover_opensets.tiny import tiny_grounding_dino

    return tiny_grounding_dino(tmp_path_factory.mktemp("gdino") / "tiny-grounding-dino", WORDS)


@pytest.fixture(scope="session")
def yolo_env(tmp_path_factory):
    """ultralytics' settings under a temporary cache folder (as the grounder sets them before import)."""
    pytest.importorskip("ultralytics")
    from discover_core.interfaces import Context
    from discover_opensets.yolo_world import prepare_ultralytics

    cache = tmp_path_factory.mktemp("yolo-cache")
    prepare_ultralytics(Context(cache_dir=cache))
    return cache


@pytest.fixture(scope="session")
def tiny_yolo_world(tmp_path_factory, yolo_env):
    """yolov8n-worldv2 built from ultralytics' own yaml (seeded random weights), saved as a .pt file."""
    import torch
    from ultralytics import YOLOWorld

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("yolo") / "tiny-yolo-world.pt"
    YOLOWorld("yolov8n-worldv2.yaml", verbose=False).save(str(path))
    return path


@pytest.fixture(scope="session")
def yolo_embeddings(tmp_path_factory):
    """Seeded random 512-d text embeddings of WORDS (one row per label), as safetensors."""
    import numpy as np
    from discover_opensets.embeddings import write_embeddings

    rows = np.random.default_rng(0).normal(size=(len(WORDS), 512)).astype("float32")
    return write_embeddings(tmp_path_factory.mktemp("emb") / "labels.safetensors", WORDS, rows)
