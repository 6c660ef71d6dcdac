"""The Ray engine against the local one: throughput with 1 and 2 workers, and the scheduling overhead per image.

    python benchmarks/bench_ray.py [--images 24] [--size 320x240] [--no-heads]

One command, one process, one dataset (synthetic images, the tiny built-in pipeline: static labels, boxes,
roi-image/webp, paste, plus the ImageNet classifier head unless --no-heads). Each engine runs the dataset twice:
on 2 images (after a warm-up run on the same 2: the local engine keeps its components built in the process, Ray
starts new actors each run) and on all of them, so the fixed cost (starting Ray, starting the actors, building their components)
and the steady per-image cost are told apart: the steady rate is measured between the first result of every
worker and the last result. Figures are ratios:

* throughput of 2 workers against 1 (ideal: 2.0 on a machine with 2 free cores);
* per-image time of Ray with 1 worker against the local engine (the scheduling and transfer overhead; 1.0 = none).

Rows are checked equal to the local engine's (timings aside). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from PIL import Image  # noqa: E402

from discover_core.distributed import RayEngine, RayOptions  # noqa: E402
from discover_core.evaluate import RunSettings, Store, open_dataset, run_cells, single_cell  # noqa: E402
from discover_core.pipeline import pipeline_from_dict  # noqa: E402
from discover_core.testing.samples import sample_image, tiny_pipeline_dict  # noqa: E402


def dataset(root: Path, n: int, size: tuple[int, int]) -> Path:
    folder = root / f"images-{n}"
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(sample_image(*size, seed=i)).save(folder / f"img{i:03d}.png")
    return folder


def pipeline(root: Path, heads: bool) -> dict:
    (root / "boxes.json").write_text('{"img000.png": [{"box": [10, 10, 120, 100], "label": "square"}]}')
    d = tiny_pipeline_dict(root / "boxes.json")
    if heads:
        d["tasks"][0]["task_heads"] = [{"plugin": "imagenet-classifier", "options": {"top_k": 3}}]
    return d


class Clocked:
    """Wraps an engine and records when each image's rows were written."""

    def __init__(self, engine):
        self.engine, self.done = engine, []
        self.name = getattr(engine, "name", "local")

    def run(self, work) -> None:
        from discover_core.evaluate.runner import LocalEngine

        write = work.image_done

        def image_done(*args):
            write(*args)
            self.done.append(time.perf_counter())
        work.image_done = image_done
        (self.engine or LocalEngine()).run(work)


def timed(root: Path, name: str, folder: Path, spec: dict, engine, skip: int = 0):
    """Wall time, rows, and the steady rate: images/s between the ``skip``-th result and the last."""
    run = root / name
    shutil.rmtree(run, ignore_errors=True)
    store = Store(run)
    clock = Clocked(engine)
    t = time.perf_counter()
    run_cells([single_cell(pipeline_from_dict(spec))], open_dataset(f"folder:{folder}"), store,
              RunSettings(save_pictures=0), engine=clock)
    wall = time.perf_counter() - t
    done = clock.done
    rate = (len(done) - 1 - skip) / (done[-1] - done[skip]) if len(done) > skip + 1 else float("nan")
    rows = [{k: v for k, v in r.items() if k != "timings"} for r in store.rows()]
    store.close()
    return wall, rows, rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--no-heads", action="store_true")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    import ray

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        spec = pipeline(root, not args.no_heads)
        small, big = dataset(root, 2, size), dataset(root, args.images, size)
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
        engines = {"local": lambda: None, "ray, 1 worker": lambda: RayEngine(RayOptions(workers=1)),
                   "ray, 2 workers": lambda: RayEngine(RayOptions(workers=2))}
        results, reference = {}, None
        for name, make in engines.items():
            timed(root, name + "-warm", small, spec, make())  # the local engine keeps its components built
            workers = 2 if "2" in name else 1
            fixed, _, _ = timed(root, name + "-small", small, spec, make())
            wall, rows, rate = timed(root, name, big, spec, make(), skip=workers)
            reference = reference if reference is not None else rows
            assert rows == reference, f"{name}: rows differ from the local engine's"
            results[name] = {"wall": wall, "fixed": fixed, "rate": rate}
        ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"## Ray engine: {args.images} images of {args.size}, tiny pipeline"
          f"{'' if args.no_heads else ' + imagenet-classifier head'}, {os.cpu_count()} CPUs\n")
    print(f"| engine | wall s ({args.images} images) | wall s (2 images: start-up) | images/s (steady) | "
          f"s per image (steady) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['wall']:.2f} | {r['fixed']:.2f} | {r['rate']:.2f} | {1 / r['rate']:.3f} |")
    one, two, local = (1 / results[k]["rate"] for k in ("ray, 1 worker", "ray, 2 workers", "local"))
    print(f"\nthroughput, 2 workers / 1 worker: {one / two:.2f}x")
    print(f"per-image time, Ray with 1 worker / local engine: {one / local:.2f}x "
          f"(scheduling overhead {1000 * (one - local):+.0f} ms per image)")
    print("rows identical to the local engine's (timings aside): yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
