"""Contract suite of task heads: JSON-serialisable predictions, deterministic, and sensible agreement scores."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from . import samples
from .checks import json_round_trip
from .contract import ComponentClassContract, ComponentOptionsContract


def check_metrics(metrics: Any) -> dict[str, float]:
    """Named, finite numbers that survive JSON."""
    assert isinstance(metrics, dict) and metrics, f"score() returned {metrics!r}, expected named metrics"
    for key, value in metrics.items():
        assert isinstance(key, str) and key, f"metric name {key!r}"
        assert isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value)), \
            f"metric {key} = {value!r} is not a finite number"
    json_round_trip({k: float(v) for k, v in metrics.items()}, "score()")
    return metrics


class TaskHeadOptionsContract(ComponentOptionsContract):
    """What a task head does with the options under test (run for every option set)."""

    kind = "task_head"

    @pytest.fixture
    def head_images(self) -> list[np.ndarray]:
        return [samples.sample_image(seed=0), samples.sample_image(80, 80, seed=1),
                samples.sample_image(64, 96, seed=2)]

    check_metrics = staticmethod(check_metrics)

    def test_predictions_are_json_serialisable(self, component, head_images):
        for image in head_images:
            json_round_trip(component.predict(image), f"{component.name}.predict()")

    def test_deterministic(self, component, build, head_images):
        first = [json_round_trip(component.predict(im), "predict()") for im in head_images]
        again = [json_round_trip(component.predict(im), "predict()") for im in head_images]
        fresh = build()
        assert json.dumps(again) == json.dumps(first), "predicting twice gave different predictions"
        assert json.dumps([json_round_trip(fresh.predict(im), "predict()") for im in head_images]) \
            == json.dumps(first), "two heads with the same options predicted differently"

    def test_agrees_with_itself(self, component, head_images):
        predictions = [component.predict(im) for im in head_images]
        metrics = self.check_metrics(component.score(predictions, references=predictions))
        if "agreement" in metrics:
            assert metrics["agreement"] == pytest.approx(1.0), f"self-agreement is {metrics['agreement']}"
        stored = json_round_trip(predictions, "predictions")  # as read back from a report
        metrics = self.check_metrics(component.score(stored, references=stored))
        if "agreement" in metrics:
            assert metrics["agreement"] == pytest.approx(1.0), "self-agreement changes after a JSON round trip"

    def test_scores_other_predictions(self, component, head_images):
        predictions = [component.predict(im) for im in head_images]
        metrics = self.check_metrics(component.score(predictions, references=predictions[::-1]))
        if "agreement" in metrics:
            assert 0.0 <= metrics["agreement"] <= 1.0

    @pytest.mark.parametrize("size", samples.ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_odd_image_sizes(self, component, size):
        json_round_trip(component.predict(samples.sample_image(*size)), f"{component.name}.predict()")

    def test_does_not_modify_the_image(self, component, head_images):
        before = head_images[0].copy()
        component.predict(head_images[0])
        assert np.array_equal(head_images[0], before), "predict() modified its input image"


class TaskHeadContract(TaskHeadOptionsContract, ComponentClassContract):
    """The whole task head contract: class checks (once per class) and behaviour with the options under test."""

    def test_declares_its_task(self, component_cls):
        assert isinstance(component_cls.task, str), f"{component_cls.__name__}.task must be a string"
