"""The plugin's registration and component declarations."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from pydantic import ValidationError

import discover_imagenet
from discover_core.interfaces import Grounder, Options, TaskHead, path_options
from discover_imagenet import CamGrounder, ImagenetClassifier, Resnet50Classifier

COMPONENTS = [CamGrounder, ImagenetClassifier]


def test_import_does_not_load_torch():
    code = (
        "import sys, discover_imagenet; "
        "print(sorted(m for m in ('torch', 'torchvision', 'timm', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hooks_register_the_components():
    got = {}
    discover_imagenet.register_grounders(lambda cls: got.setdefault("grounder", []).append(cls))
    discover_imagenet.register_task_heads(lambda cls: got.setdefault("task_head", []).append(cls))
    assert got == {"grounder": [CamGrounder], "task_head": [ImagenetClassifier, Resnet50Classifier]}
    assert issubclass(CamGrounder, Grounder) and issubclass(ImagenetClassifier, TaskHead)


@pytest.mark.parametrize("cls", COMPONENTS)
def test_component_declarations(cls):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.name)
    assert cls.extra == "vision"
    assert {"torch", "torchvision", "timm"} <= set(cls.requires)
    assert issubclass(cls.Options, Options)
    for name, field in cls.Options.model_fields.items():
        assert field.description, f"{cls.name}.{name} has no description"
    with pytest.raises(ValidationError):
        cls.Options(no_such_option=1)
    assert cls.summary()
    assert path_options(cls.Options) == {"weights"}  # may name a file: never taken from a stream header


def test_option_bounds():
    with pytest.raises(ValidationError):
        CamGrounder.Options(cam_threshold=0)
    with pytest.raises(ValidationError):
        CamGrounder.Options(top_k=0)
    with pytest.raises(ValidationError):
        ImagenetClassifier.Options(weights="")
    assert ImagenetClassifier.Options().backbone != CamGrounder.Options().backbone
    assert ImagenetClassifier.task == "classification"
