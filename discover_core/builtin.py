"""The built-in offline pipelines (package data of discover_core): what ``-c default`` (classification),
``-c detection`` and ``-c segmentation`` name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUILTIN_PIPELINES = {"classification": "data/default.yaml", "detection": "data/detection.yaml",
                     "segmentation": "data/segmentation.yaml"}
"""The demo's tasks and their built-in offline pipelines."""


def builtin_pipeline_path(task: str) -> Path:
    return Path(str(resources.files("discover_core").joinpath(BUILTIN_PIPELINES[task])))


def default_pipeline_path() -> Path:
    return builtin_pipeline_path("classification")
