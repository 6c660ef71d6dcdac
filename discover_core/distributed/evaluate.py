"""The Ray engine of ``discover evaluate`` and ``discover sweep``.

The driver ships every cell as its resolved config (a dict), never a built pipeline; each actor rebuilds the
pipelines from those dicts once and evaluates images with the same code as the local engine
(:func:`..evaluate.runner.evaluate_image`). Actors load the pixels themselves (the dataset's files must be at
the same path on every node), look the analyzer and reference caches up through a reader actor on the driver's
node, and send back the rows, the new cache entries and any pictures to save: the driver alone writes the
store, one transaction per image, as results arrive. Cells go in order (a cell's images before the next
cell's), so a codec sweep still grounds each image once.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..evaluate.runner import Cell, Perception, Stats, Work, evaluate_image
from ..evaluate.settings import RunSettings
from ..evaluate.store import Store, _dumps
from .cluster import Pool, RayOptions, Task, actor_options, connect, default_workers, head_node, pin_threads


class RemoteCache:
    """What :func:`evaluate_image` sees as the store inside an actor: reads go to the reader actor (and to the
    entries this actor made, not yet written), writes are kept and sent back with the image's rows."""

    def __init__(self, ray, reader):
        self.ray, self.reader = ray, reader
        self.local: dict[tuple[str, str], Any] = {}
        self.new: list[tuple] = []

    def cached_regions(self, key: str):
        got = self.local.get(("regions", key))
        return got if got is not None else self.ray.get(self.reader.cached_regions.remote(key))

    def cache_regions(self, key: str, regions: list[dict], labels: dict, seconds: float) -> None:
        self.local[("regions", key)] = (regions, labels, seconds)
        self.new.append(("regions", key, regions, labels, seconds))

    def cached_reference(self, key: str):
        got = self.local.get(("reference", key))
        return got if got is not None else self.ray.get(self.reader.cached_reference.remote(key))

    def cache_reference(self, key: str, prediction: Any, seconds: float) -> None:
        import json

        self.local[("reference", key)] = (json.loads(_dumps(prediction)), seconds)
        self.new.append(("reference", key, prediction, seconds))

    def take(self) -> list[tuple]:
        new, self.new = self.new, []
        return new


class EvalWorker:
    """One actor: the run's pipelines, built once from their resolved configs; evaluates one image at a time."""

    def __init__(self, cells: list[dict], device: str, seed: int, opts: dict, threads: int, reader):
        self.spec, self.device, self.seed, self.threads = cells, device, seed, threads
        self.opts = RunSettings(**opts)
        self.reader = reader
        self.cells: list[Cell] | None = None

    def build(self) -> int:
        """Build every component of every cell (once per actor); the number of cells."""
        if self.cells is None:
            import ray

            from ..pipeline import pipeline_from_dict

            pin_threads(self.threads)
            cells = []
            for c in self.spec:
                p = pipeline_from_dict(c["data"], device=self.device, base_dir=Path(c["base_dir"]), seed=self.seed)
                cells.append(Cell(c["name"], p.build_all(), c["overrides"], c["position"]))
            self.perception = Perception(self.opts, cells[0].pipeline.context) if self.opts.perception else None
            self.cache = RemoteCache(ray, self.reader)
            self.cells = cells
        return len(self.cells)

    def evaluate(self, index: int, item, save: bool) -> dict:
        self.build()
        stats, feats, pictures = Stats(), [], []
        keep = (lambda item, image, regions, stream, recon: pictures.append((image, regions, stream, recon))) \
            if save else None
        rows = evaluate_image(self.cells[index], item, self.cache, self.opts, stats, keep, self.perception, feats)
        return {"rows": rows, "features": feats, "cache": self.cache.take(), "pictures": pictures,
                "stats": asdict(stats)}


def _cell_spec(cell: Cell) -> dict:
    p = cell.pipeline
    return {"name": cell.name, "data": p.resolved.data, "base_dir": str(p.resolved.base_dir),
            "overrides": cell.overrides, "position": cell.position}


class RayEngine:
    """Runs a :class:`Work` on Ray actors (``--engine ray``); the store is written by the caller's callbacks."""

    name = "ray"

    def __init__(self, opts: RayOptions | None = None):
        self.opts = opts or RayOptions()

    def run(self, work: Work) -> None:
        if work.opts.on_stream is not None:
            raise ValueError("on_stream callbacks run in the driver's process: use the local engine")
        todo = [work.todo(index) for index in range(len(work.cells))]
        left = {index: len(t) for index, t in enumerate(todo)}
        for index in [i for i, n in left.items() if n == 0]:
            work.cell_done(index)
        if not any(left.values()):
            return  # a finished run: no actor started
        ray = connect(self.opts)
        first = work.cells[0].pipeline
        reader = ray.remote(Store).options(**head_node(ray)).remote(str(work.store.path), readonly=True)
        shipped = {k: v for k, v in asdict(work.opts).items() if k not in ("on_stream", "pictures_dir")}
        remote = ray.remote(EvalWorker).options(**actor_options(self.opts))
        spec = [_cell_spec(c) for c in work.cells]
        threads = self.opts.worker_threads()
        make = lambda i: remote.remote(spec, first.context.device, first.context.seed, shipped, threads, reader)
        pool = Pool(ray, make, self.opts.workers or default_workers(ray, self.opts), self.opts)
        tasks = (Task((index, position), item) for index, items in enumerate(todo) for position, item in items)

        def call(actor, task: Task):
            index, position = task.key
            return actor.evaluate.remote(index, task.payload, work.pictures(index, position) is not None)

        try:
            pool.start()
            for out in pool.run(tasks, call):
                index, position = out.task.key
                item = out.task.payload
                if out.error is not None:
                    work.image_failed(index, item, out.error, out.task.attempts, out.user_error)
                else:
                    self._write(work, index, position, item, out.result)
                work.describe(f"{work.cells[index].name[:40]} · {item.name[:30]}")
                left[index] -= 1
                if left[index] == 0:
                    work.cell_done(index)
        finally:
            pool.stop()
            ray.kill(reader)

    @staticmethod
    def _write(work: Work, index: int, position: int, item, result: dict) -> None:
        store = work.store
        for entry in result["cache"]:
            if entry[0] == "regions":
                store.cache_regions(*entry[1:])
            else:
                store.cache_reference(*entry[1:])
        save = work.pictures(index, position)
        for image, regions, stream, recon in result["pictures"] if save else ():
            save(item, image, regions, stream, recon)
        work.image_done(index, result["rows"], result["features"])
        for k in ("ground_s", "ground_saved_s", "cache_hits"):
            setattr(work.stats, k, getattr(work.stats, k) + result["stats"][k])
