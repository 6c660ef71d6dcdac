"""How an evaluate run names a pipeline's task heads (slot paths, row keys) and finds an item's target for one."""

from __future__ import annotations

from typing import Any

from ..pipeline import Pipeline
from .datasets import Item


def head_paths(pipeline: Pipeline) -> list[tuple[str, str, int]]:
    """(slot path, task name, index) of every head."""
    return [(f"tasks[{i}].task_heads[{j}]", t.name, j) for i, t in enumerate(pipeline.tasks)
            for j in range(len(pipeline.config.tasks[i].task_heads))]


def head_key(pipeline: Pipeline, path: str) -> str:
    """How a head is named in rows and aggregates: ``task/head-name`` (``#j`` when a task has two of a kind)."""
    i, j = int(path.split("[")[1].split("]")[0]), int(path.rsplit("[", 1)[1].rstrip("]"))
    task = pipeline.config.tasks[i]
    name = task.task_heads[j].plugin.split(":")[-1]
    same = [h for h in task.task_heads if h.plugin.split(":")[-1] == name]
    return f"{task.name}/{name}" + (f"#{j}" if len(same) > 1 else "")


def target_for(head, item: Item) -> Any:
    return item.targets.get(getattr(type(head), "task", "") or "")
