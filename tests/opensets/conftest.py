import pytest

WORDS = ["cat", "dog", "person", "car", "bus", "traffic", "light", "street", "fire", "hydrant", "bird", "kite",
         "face", "tabby", "tiger", "stop", "sign", "potted", "plant", "hair", "dryer"] + [f"w{i}" for i in range(400)]


@pytest.fixture(scope="session")
def tiny_gdino(tmp_path_factory):
    pytest.importorskip("transformers")
    from discover_opensets.tiny import tiny_grounding_dino

    return tiny_grounding_dino(tmp_path_factory.mktemp("gdino") / "tiny-grounding-dino", WORDS)
