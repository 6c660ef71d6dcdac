"""Contract suite of label sources: a task -> a non-empty list of unique labels, the same every time."""

from __future__ import annotations

from typing import Any

import pytest

from ..interfaces import TaskSpec, normalize_label
from .contract import ComponentClassContract, ComponentOptionsContract


def check_labels(labels: Any) -> None:
    """A non-empty list of non-empty strings, unique when compared as labels are (:func:`normalize_label`)."""
    assert isinstance(labels, list), f"labels() returned {type(labels).__name__}, expected a list"
    assert labels, "labels() returned no labels"
    bad = [x for x in labels if not isinstance(x, str) or not x.strip()]
    assert not bad, f"labels must be non-empty strings; got {bad[:5]!r}"
    seen: dict[str, str] = {}
    dupes = []
    for x in labels:
        key = normalize_label(x)
        if key in seen:
            dupes.append((seen[key], x))
        seen.setdefault(key, x)
    assert not dupes, f"labels must be unique (compared case- and whitespace-insensitively); repeated: {dupes[:10]}"


class LabelSourceOptionsContract(ComponentOptionsContract):
    """What a label source does with the options under test (run for every option set)."""

    kind = "label_source"

    @pytest.fixture
    def task_spec(self) -> TaskSpec:
        return TaskSpec("detection", "find every object a detector should keep")

    check_labels = staticmethod(check_labels)

    def test_labels_are_unique_non_empty_strings(self, component, task_spec):
        self.check_labels(component.labels(task_spec))

    def test_labels_are_deterministic(self, component, build, task_spec):
        first = component.labels(task_spec)
        assert component.labels(task_spec) == first, "asked twice, the same source gave different labels"
        assert build().labels(task_spec) == first, "two sources with the same options gave different labels"

    def test_labels_for_another_task(self, component):
        self.check_labels(component.labels(TaskSpec("classification", "")))

    def test_known_labels_are_the_labels(self, component_cls, component_options, context, component, task_spec):
        """``known_labels`` (used by ``discover validate`` without building anything) is ``None`` or exactly
        what ``labels()`` returns, for any task."""
        known = component_cls.known_labels(component_options, context)
        if known is None:
            return
        assert isinstance(known, list) and all(isinstance(x, str) for x in known), \
            f"known_labels() must be None or a list of strings, got {type(known).__name__}"
        for task in (task_spec, TaskSpec("classification", "")):
            assert component.labels(task) == known, (
                f"known_labels() differs from labels({task.name!r}); return None from known_labels when the "
                f"labels depend on the task or on a model")


class LabelSourceContract(LabelSourceOptionsContract, ComponentClassContract):
    """The whole label source contract: class checks (once per class) and behaviour with the options under test."""
