"""Folder ``encode`` on Ray actors: each builds the pipeline once from its resolved config and encodes one file at
a time; the driver writes every stream (atomically) as it arrives. The files must be at the same path on every
node."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .cluster import Pool, RayOptions, Task, actor_options, connect, default_workers, pin_threads


class EncodeWorker:
    def __init__(self, data: dict, base_dir: str, device: str, seed: int, threads: int):
        self.spec = (data, base_dir, device, seed)
        self.threads = threads
        self.pipeline = None

    def build(self) -> None:
        if self.pipeline is None:
            from ..pipeline import pipeline_from_dict

            pin_threads(self.threads)
            data, base_dir, device, seed = self.spec
            self.pipeline = pipeline_from_dict(data, device=device, base_dir=Path(base_dir), seed=seed).build_all()

    def encode(self, path: str) -> dict:
        from ..images import load_image

        self.build()
        image, meta = load_image(Path(path))
        stream = self.pipeline.encode(image, meta)
        h, w = image.shape[:2]
        return {"data": stream.to_bytes(), "width": w, "height": h, "content": stream.content_count,
                "tasks": list(stream.header.tasks), "labels": list(stream.header.labels)}


def encode_on_ray(pipeline, paths: Iterable[Path], opts: RayOptions, done: Callable[[Path, dict], None],
                  failed: Callable[[Path, str, bool], None]) -> None:
    """Encode ``paths`` with ``pipeline``'s resolved config on Ray actors; ``done(path, result)`` (the stream bytes
    and what the summary prints) or ``failed(path, error, user_error)`` for each, in the order they finish."""
    ray = connect(opts)
    remote = ray.remote(EncodeWorker).options(**actor_options(opts))
    r = pipeline.resolved
    args = (r.data, str(r.base_dir), pipeline.context.device, pipeline.context.seed, opts.worker_threads())
    pool = Pool(ray, lambda i: remote.remote(*args), opts.workers or default_workers(ray, opts), opts).start()
    try:
        for out in pool.run((Task(p, str(p)) for p in paths), lambda actor, t: actor.encode.remote(t.payload)):
            if out.error is None:
                done(out.task.key, out.result)
            else:
                failed(out.task.key, out.error, out.user_error)
    finally:
        pool.stop()
