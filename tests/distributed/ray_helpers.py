"""Helpers of the Ray tests: tiny datasets, images whose loading fails on purpose, a trivial actor."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from PIL import Image

from discover_core.evaluate import open_dataset
from discover_core.testing.samples import sample_image, tiny_pipeline_dict


def images(folder: Path, n: int, size=(160, 120)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(sample_image(*size, seed=i)).save(folder / f"img{i}.png")
    return folder


def pipeline(tmp: Path, heads: bool = True) -> dict:
    (tmp / "boxes.json").write_text('{"img0.png": [{"box": [10, 10, 100, 90], "label": "square"}], '
                                    '"img1.png": [{"box": [40, 20, 150, 110], "label": "disc"}]}')
    d = tiny_pipeline_dict(tmp / "boxes.json")
    if heads:
        d["tasks"][0]["task_heads"] = [{"plugin": "imagenet-classifier", "options": {"top_k": 3}}]
    return d


def attempts(counter: Path) -> int:
    return len(counter.read_text()) if counter.exists() else 0


def flaky_load(loader, counter: Path, mode: str, times: int):
    """Count the attempt, then fail as ``mode`` says for the first ``times`` attempts (always: times < 0)."""
    with open(counter, "a") as f:
        f.write(".")
    n = attempts(counter)
    if times < 0 or n <= times:
        if mode == "die":
            os._exit(3)  # the worker process dies
        raise RuntimeError(f"flaky loader, attempt {n}")
    return loader()


def with_flaky(dataset, counters: Path, plan: dict[str, tuple[str, int]]):
    """``dataset`` whose items named in ``plan`` load through :func:`flaky_load`; every load is counted."""
    counters.mkdir(parents=True, exist_ok=True)
    for item in dataset.items:
        mode, times = plan.get(item.name, ("ok", 0))
        item.loader = functools.partial(flaky_load, item.loader, counters / item.name, mode, times)
    return dataset


def flaky_dataset(folder: Path, counters: Path, plan: dict[str, tuple[str, int]]):
    return with_flaky(open_dataset(f"folder:{folder}"), counters, plan)


class Echo:
    """A trivial actor for the pool: doubles its input after a short sleep."""

    def build(self) -> None:
        return None

    def run(self, x: int) -> int:
        time.sleep(0.05)
        return 2 * x


def without_timings(rows):
    return [{k: v for k, v in r.items() if k != "timings"} for r in rows]


def without_times(aggregates: dict) -> dict:
    """Aggregates without the total seconds of grounding, encoding and decoding."""
    return {cell: {stream: {k: v for k, v in m.items() if not k.endswith("_s")} for stream, m in per.items()}
            for cell, per in aggregates.items()}


def picture_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}

