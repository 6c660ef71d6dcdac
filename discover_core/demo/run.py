"""The demo: the built-in pipelines (classification, detection, segmentation) or one pipeline file over the demo
photos. The built-in pipelines run side by side in worker processes, one per pipeline (``workers``), the
cores shared among them: when one pipeline finishes, the others get its core."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

from ..builtin import BUILTIN_PIPELINES, builtin_pipeline_path, default_pipeline_path
from ..errors import InputError
from ..pipeline import load_pipeline
from .loop import DEFAULT_QUALITIES, QUALITY_OPTIONS, Run, quality_knobs, run_pipeline
from ..photos import demo_photos
from .report import write_reports
from .tables import comparisons_markdown, print_summary

__all__ = ["BUILTIN_PIPELINES", "DEFAULT_QUALITIES", "QUALITY_OPTIONS", "builtin_pipeline_path",
           "default_pipeline_path", "run_demo"]

FOLDERS = {"classification": "", "detection": "detection", "segmentation": "segmentation"}
"""Where each built-in pipeline's streams, pictures and plot go (classification: the output folder itself)."""


def _plan(pipeline_file: Path | None, tasks: Sequence[str] | None) -> list[tuple[str | None, str, Path]]:
    """``(name, folder, pipeline file)`` per pipeline to run (name None: the pipeline's first task)."""
    if pipeline_file is not None:
        if tasks:
            raise InputError("--task picks among the demo's built-in pipelines; -c runs only the given file",
                             "leave out --task with -c, or leave out -c")
        return [(None, "", Path(pipeline_file))]
    tasks = list(dict.fromkeys(tasks or BUILTIN_PIPELINES))
    unknown = [t for t in tasks if t not in BUILTIN_PIPELINES]
    if unknown:
        raise InputError(f"the demo has no task {', '.join(unknown)}", f"tasks: {', '.join(BUILTIN_PIPELINES)}")
    return [(t, FOLDERS[t], builtin_pipeline_path(t)) for t in tasks]


def run_demo(out_dir: Path, pipeline_file: Path | None = None, qualities=None, device: str = "cpu",
             console=None, progress=None, photos: list[str] | None = None,
             tasks: Sequence[str] | None = None, workers: int | None = None) -> Path:
    """Run the demo and write everything to ``out_dir``; returns the HTML page's path.

    ``tasks``: which built-in pipelines to run (``classification``, ``detection``, ``segmentation``; default
    all three), or ``pipeline_file`` to run that one pipeline instead. ``workers``: processes running
    pipelines side by side (default: one per pipeline, each with ``cores // workers`` torch threads, at least
    one, so the operating system shares the cores and none idles while pipelines remain; 1 runs them one
    after the other, with a progress bar).
    """
    out_dir = Path(out_dir)
    plan = _plan(pipeline_file, tasks)
    pipelines = [(name, folder, load_pipeline(path, device=device)) for name, folder, path in plan]
    qualities = tuple(qualities or ()) or None
    for _, _, pipeline in pipelines:
        quality_knobs(pipeline, qualities)
    photos = demo_photos(photos)  # every pipeline file, --quality and --photo are checked before any work
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(len(pipelines), workers or len(pipelines)) if device == "cpu" else 1
    runs: list[Run] = []
    if workers > 1:
        # One process per pipeline, each on its share of the cores: the AVIF coding, the metrics and Python's
        # own work of one pipeline no longer wait for another's network. More processes than cores (three
        # pipelines on two) beats a pool of one per core: the pipelines take different times, and a pool would
        # leave a core idle while the last one runs alone.
        import multiprocessing
        import tempfile

        stills = tempfile.TemporaryDirectory(prefix="discover-demo-stills-")  # the baselines' stills, shared
        jobs = [(name or pipeline.task.name, folder, plan[i][2], [p.name for p in photos], qualities, out_dir,
                 device, max(1, cores // workers), cores, stills.name)
                for i, (name, folder, pipeline) in enumerate(pipelines)]
        with stills, ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_in_worker, job) for job in jobs]
            for job, future in zip(jobs, futures):
                runs.append(future.result())
                runs[-1].side_by_side = workers
                if console is not None:
                    console.print(f"{job[0]}: done")
    else:
        bar = progress() if progress else nullcontext()
        with bar as b:
            for name, folder, pipeline in pipelines:
                runs.append(run_pipeline(name or pipeline.task.name, folder, pipeline, photos, qualities, out_dir,
                                         b))
    write_reports(out_dir, runs)
    if console is not None:
        for run in runs:
            print_summary(console, run.summary, f"demo, {run.name}: means over the photos")
            console.print(f"\n{run.name}: rate at equal agreement (lowest measured bpp), BD-rate of PSNR in regions "
                          "vs AVIF:")
            console.print(comparisons_markdown(run.comparisons), markup=False)
            found = sum(p["subject_found"] for p in run.photos.values())
            g = run.ground_s()
            console.print(f"{run.name}: the grounder found a region on the annotated subject in {found} of "
                          f"{len(run.photos)} photos" + (f"; grounding {g['median']:.2f} s per image (median)"
                                                         if g else "") + "\n")
    return out_dir / "index.html"


def _run_in_worker(job) -> Run:
    """One pipeline of the demo in a worker process (spawned: its own models, its share of the cores)."""
    import torch

    from .baselines import STILLS

    name, folder, path, photo_names, qualities, out_dir, device, threads, photo_threads, stills = job
    torch.set_num_threads(threads)
    STILLS.folder = Path(stills)
    return run_pipeline(name, folder, load_pipeline(path, device=device), demo_photos(photo_names), qualities,
                        out_dir, photo_threads=photo_threads)
