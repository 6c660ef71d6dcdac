"""``resnet50-classifier`` (imagenet-classifier with ResNet-50 defaults) on a random-init ResNet-50 loaded by path."""

import numpy as np
import pytest

from discover_core.pipeline import pipeline_from_dict
from discover_core.testing import TaskHeadContract
from discover_imagenet import Resnet50Classifier


@pytest.fixture(scope="module")
def r50(tmp_path_factory):
    import torch
    from torchvision.models import resnet50

    path = tmp_path_factory.mktemp("weights") / "r50.pt"
    torch.manual_seed(0)
    torch.save(resnet50().state_dict(), path)
    return path


def test_resnet50_classifier_from_a_path(r50):
    p = pipeline_from_dict({
        "schema_version": 2,
        "tasks": [{"name": "t", "label_source": {"plugin": "static", "options": {"labels": ["cat"]}},
                   "task_heads": [{"plugin": "resnet50-classifier", "options": {"weights": str(r50)}}]}],
        "grounders": [{"plugin": "boxes", "options": {"file": "x.json", "missing": "empty"}}],
        "entropy_model": {"plugin": "roi-image", "options": {}}, "composer": {"plugin": "paste"}})
    head = p.task_heads[0]
    pred = head.predict(np.zeros((64, 64, 3), np.uint8))
    assert len(pred["classes"]) == 5 and head.score([pred], targets=[pred["classes"][0]])["top1"] == 1.0


class TestResnet50Contract(TaskHeadContract):
    component_class = Resnet50Classifier

    @pytest.fixture
    def options_dict(self, r50):
        return {"weights": str(r50)}
