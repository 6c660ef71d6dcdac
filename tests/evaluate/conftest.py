"""Fixtures of the evaluation tests: a registry with test components, small datasets on disk."""

from __future__ import annotations

import pytest

import eval_helpers as h


@pytest.fixture
def registry():
    h.CountingGrounder.calls.clear()
    h.MeanHead.scored.clear()
    return h.registry()


@pytest.fixture
def folder(tmp_path):
    return h.image_folder(tmp_path / "images")


@pytest.fixture
def coco(tmp_path):
    return h.coco_folder(tmp_path / "coco")
