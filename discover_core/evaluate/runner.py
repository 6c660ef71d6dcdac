"""The per-image loop of ``discover evaluate`` and ``discover sweep``: resumable, cached, one transaction per image.

For every image of the dataset and every cell (pipeline configuration): ground (or take the analyzer
cache), encode once, cut out each task's part, decode the full stream and every part, measure PSNR /
MS-SSIM whole and inside / outside the regions, run every head on the reconstructions (and, once per
image and head config, on the original: the references). All rows of one image are written in one
transaction; finished images are skipped on resume. After a cell's last image its dataset-level
aggregates are computed from the store (:mod:`.aggregate`).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import slots
from ..errors import InputError
from ..interfaces import Region, normalize_label
from ..metrics import bpp, quality_report
from ..pipeline import Pipeline
from .aggregate import aggregate_cell
from .datasets import Dataset, Item
from .heads import head_key, head_paths, target_for
from .settings import RunSettings
from .store import Store, _dumps

SLOT_KINDS = {"label_source": "label_source", "grounders": "grounder", "entropy_model": "entropy_model",
              "composer": "composer", "task_heads": "task_head"}


@dataclass
class Cell:
    """One pipeline configuration to evaluate: its name, its overrides of the base, and the pipeline."""

    name: str
    pipeline: Pipeline
    overrides: dict[str, Any] = field(default_factory=dict)
    position: int = 0

    @property
    def config(self) -> dict:
        p = self.pipeline
        return {"pipeline": p.resolved.data,
                "options": {k: v.model_dump(mode="json") for k, v in p.resolved.options.items()}}

    @property
    def versions(self) -> dict:
        """Plugin, provider, distribution, version and format version of every slot (nothing built)."""
        p = self.pipeline
        out = {}
        for ref in slots(p.config):
            path = ref.path
            reg = p.registry.get(ref.kind, ref.slot.plugin)
            out[path] = {"plugin": reg.name, "provider": reg.plugin, "distribution": reg.distribution,
                         "version": reg.version, "format_version": reg.cls.format_version}
        return out

    def cell_id(self, dataset: Dataset) -> str:
        text = json.dumps([self.config, self.versions, dataset.fingerprint], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _slot_key(cell: Cell, paths: list[str]) -> dict:
    cfg, ver = cell.config["options"], cell.versions
    return {p: {"plugin": ver[p]["plugin"], "version": ver[p]["version"], "options": cfg[p]} for p in paths}


def analyzer_key(cell: Cell, image_hash: str) -> str:
    """Key of an image's labels and regions: the image and every label source and grounder (options, versions)."""
    paths = [r.path for r in slots(cell.pipeline.config) if r.kind in ("grounder", "label_source")]
    tasks = [(t.name, t.description) for t in cell.pipeline.tasks]
    text = json.dumps([image_hash, tasks, _slot_key(cell, paths)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def reference_key(cell: Cell, head_path: str, image_hash: str) -> str:
    text = json.dumps([image_hash, _slot_key(cell, [head_path])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def image_hash(image: np.ndarray) -> str:
    h = hashlib.sha256(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


@dataclass
class Stats:
    images: int = 0
    skipped: int = 0
    ground_s: float = 0.0
    ground_saved_s: float = 0.0
    cache_hits: int = 0
    wall_s: float = 0.0
    failed: int = 0
    """Image evaluations that failed every attempt: in the store's failures table, tried again on resume."""
    input_errors: int = 0
    """Of those, the ones that failed for their input (an unreadable image file)."""

    @property
    def exit_code(self) -> int:
        """As ``discover encode``'s: 2 if an image failed for its input, else 1 if one failed otherwise, else 0."""
        return 2 if self.input_errors else 1 if self.failed else 0


KILL_ENV = "DISCOVER_TEST_KILL"
"""Test hook: ``EVENT:N`` (or several, comma-separated) SIGKILLs this process at the N-th EVENT of the run:
``grounded`` (an image's regions are in the analyzer cache, its rows not yet written), ``committed`` (an image's
rows are written; the cell's aggregates not yet, when it was the cell's last). How the tests kill a run at exact
points; unset, :func:`checkpoint` only counts."""
_events: dict[str, int] = {}


def checkpoint(event: str) -> None:
    """A point where a killed run must resume exactly (see :data:`KILL_ENV`)."""
    _events[event] = n = _events.get(event, 0) + 1
    spec = os.environ.get(KILL_ENV, "")
    if spec and f"{event}:{n}" in {s.strip() for s in spec.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)


def _task_boxes(pipeline: Pipeline, regions: list[Region], task: str | None) -> list:
    if task is None:
        return [r.box for r in regions]
    wanted = {normalize_label(x) for x in pipeline.task_labels[task]}
    return [r.box for r in regions if normalize_label(r.label) in wanted]


class Perception:
    """The perception metrics a run asked for, built once (a missing weights file fails before any image)."""

    def __init__(self, opts: RunSettings, context):
        from . import perception as pm

        unknown = [m for m in opts.perception if m not in pm.METRICS]
        if unknown:
            from ..errors import ConfigError

            raise ConfigError("perception metrics", [("", f"'{m}' is not one of {', '.join(pm.METRICS)}")
                                                     for m in unknown])
        self.pm = pm
        self.pairs = {m: pm.PairMetric(m, context, opts.weights_dir) for m in opts.perception if m in pm.FILES}
        wants = [m for m in opts.perception if m in ("fid", "kid")]
        self.features = pm.Features(opts.features).build(context, opts.weights_dir) if wants else None

    def image(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        view = self.pm.clic_view(image)
        return view, (self.features(self.pm.patches(view)) if self.features else None)

    def pair(self, ref_view: np.ndarray, recon: np.ndarray) -> tuple[dict, np.ndarray | None]:
        view = self.pm.clic_view(recon)
        scores = {m: metric(ref_view, view) for m, metric in self.pairs.items()}
        return scores, (self.features(self.pm.patches(view)) if self.features else None)


def evaluate_image(cell: Cell, item: Item, cache: Any, opts: RunSettings, stats: Stats,
                   pictures: Callable[..., None] | None = None, perception: Perception | None = None,
                   features: list | None = None) -> list[dict]:
    """Every row of one image of one cell (not yet written); perception features appended to ``features``.

    ``cache`` answers and records the analyzer and reference caches (the :class:`Store`, or a Ray worker's view
    of it); ``pictures(item, image, regions, stream_name, recon)`` is called for every stream when given."""
    p = cell.pipeline
    image, meta = item.load()
    h, w = image.shape[:2]
    ih = image_hash(image)
    timings: dict[str, float] = {}
    akey = analyzer_key(cell, ih)
    cached = cache.cached_regions(akey) if opts.analyzer_cache else None
    if cached is not None:
        found = cached[0]
        timings["ground_s"] = 0.0
        timings["ground_cached_s"] = cached[2]
        stats.cache_hits += 1
        stats.ground_saved_s += cached[2]
    else:
        t0 = time.perf_counter()
        grounded = p.ground(image, meta)
        timings["ground_s"] = time.perf_counter() - t0
        stats.ground_s += timings["ground_s"]
        found = json.loads(_dumps([{"box": list(r.box), "label": r.label, "score": r.score} for r in grounded]))
        cache.cache_regions(akey, found, p.task_labels if len(json.dumps(p.task_labels)) < 100_000 else {},
                            timings["ground_s"])
        checkpoint("grounded")
    # the regions as the cache holds them (plain floats), fresh or cached: a resumed run codes the same bytes
    regions = [Region(tuple(r["box"]), r["label"], r["score"]) for r in found]
    heads = dict(zip([hp for hp, _, _ in head_paths(p)], p.task_heads))
    references: dict[str, Any] = {}
    for path, head in heads.items():
        rkey = reference_key(cell, path, ih)
        got = cache.cached_reference(rkey) if opts.analyzer_cache else None
        if got is None:
            t0 = time.perf_counter()
            ref = head.predict(image)
            cache.cache_reference(rkey, ref, time.perf_counter() - t0)
            got = (json.loads(_dumps(ref)), 0.0)  # as the cache holds it
        references[path] = got[0]
    t0 = time.perf_counter()
    stream = p.encode(image, meta, regions=regions)
    timings["encode_s"] = time.perf_counter() - t0
    if perception is not None:
        ref_view, ref_feats = perception.image(image)
    streams = [("full", None, stream)] + [(f"task:{t.name}", t.name, stream.extract(task=t.name)) for t in p.tasks]
    rows = []
    for sname, task, s in streams:
        data = s.to_bytes()
        t0 = time.perf_counter()
        recon = p.decode(s)
        decode_s = time.perf_counter() - t0
        boxes = _task_boxes(p, regions, task)
        quality = quality_report(image, recon, boxes)
        quality["regions"] = len(boxes)
        if perception is not None:
            scores, feats = perception.pair(ref_view, recon)
            quality.update(scores)
            if feats is not None and features is not None:
                ext = perception.features.name
                features += [(item.id, sname, "real", ext, ref_feats), (item.id, sname, "fake", ext, feats)]
        head_out = {}
        for (path, tname, _), head in zip(head_paths(p), p.task_heads):
            if task is not None and tname != task:
                continue
            pred = head.predict(recon)
            target = target_for(head, item)
            metrics = head.score([pred], references=[references[path]],
                                 targets=[target] if target is not None else None)
            head_out[head_key(p, path)] = {"path": path, "prediction": pred, "reference": references[path],
                                           "metrics": metrics}
        chunks = {c.name: len(c.payload) for c in s.chunks}
        chunks["(container)"] = s.header_bytes()
        rows.append({"image_id": item.id, "image": item.name, "stream": sname, "width": w, "height": h,
                     "bytes": len(data), "bpp": bpp(len(data), w, h), "chunks": chunks, "quality": quality,
                     "heads": head_out, "timings": {**timings, "decode_s": decode_s}})
        if opts.on_stream is not None:
            opts.on_stream(cell, item, sname, data, recon)
        if pictures is not None:
            pictures(item, image, regions, sname, recon)
    return rows


def save_pictures(folder: Path, cell_id: str, item: Item, image: np.ndarray, regions: list[Region], stream: str,
                   recon: np.ndarray) -> None:
    from ..pictures import draw_regions
    from ..images import atomic_save_image

    stem = Path(item.name).stem.replace("/", "_")
    original = folder / "original" / f"{stem}.png"
    if not original.exists():
        atomic_save_image(original, image)
    atomic_save_image(folder / cell_id / f"{stem}-regions.png", draw_regions(image, regions))
    atomic_save_image(folder / cell_id / f"{stem}-{stream.replace(':', '-')}.png", recon)


def progress_bar(console=None):
    """A rich progress bar with images/s and an ETA."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} images/s" if speed else "- images/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    transient=False)


@dataclass
class Work:
    """What an engine runs, and where it reports: every cell on every image not yet in the store."""

    cells: list[Cell]
    ids: list[str]
    dataset: Dataset
    done: dict[str, set[int]]
    store: Store
    opts: RunSettings
    stats: Stats
    image_done: Callable[[int, list[dict], list], None]
    """``(cell index, rows, perception features)``: writes the image's rows in one transaction."""
    image_failed: Callable[[int, Item, str, int, bool], None]
    """``(cell index, item, error, attempts, input_error)``: an image that failed every attempt (``input_error``:
    for its input, e.g. an unreadable file, not a bug)."""
    cell_done: Callable[[int], None]
    describe: Callable[[str], None]

    def todo(self, index: int) -> list[tuple[int, Item]]:
        """(position in the dataset, item) of every image of a cell not yet in the store; counts the skipped."""
        done = self.done[self.ids[index]]
        out = [(n, item) for n, item in enumerate(self.dataset.items) if item.id not in done]
        self.stats.skipped += len(self.dataset) - len(out)
        return out

    def pictures(self, index: int, position: int) -> Callable[..., None] | None:
        """Where an image's reconstructions are saved (the first ``save_pictures`` images), or None."""
        if position >= self.opts.save_pictures or self.opts.pictures_dir is None:
            return None
        folder, cid = self.opts.pictures_dir, self.ids[index]
        return lambda item, image, regions, stream, recon: save_pictures(folder, cid, item, image, regions, stream,
                                                                          recon)


class LocalEngine:
    """The in-process engine (the default): components built once here, images one after another."""

    name = "local"

    def run(self, work: Work) -> None:
        for cell in work.cells:  # every component built (or failing) before the first image
            cell.pipeline.build_all()
        opts = work.opts
        perception = Perception(opts, work.cells[0].pipeline.context) if opts.perception else None
        for index, cell in enumerate(work.cells):
            for position, item in work.todo(index):
                work.describe(f"{cell.name[:40]} · {item.name[:30]}")
                feats: list = []
                try:
                    rows = evaluate_image(cell, item, work.store, opts, work.stats, work.pictures(index, position),
                                          perception, feats)
                except InputError as exc:  # the image's fault (an unreadable file): recorded, the run goes on
                    work.image_failed(index, item, exc.message, 1, True)
                    continue
                work.image_done(index, rows, feats)
            work.cell_done(index)


def run_cells(cells: list[Cell], dataset: Dataset, store: Store, opts: RunSettings | None = None,
              progress: Callable | None = None, log: Callable[[str], None] | None = None,
              engine: Any = None) -> Stats:
    """Evaluate every cell on every image not yet in the store; aggregates per finished cell.

    ``engine`` runs the per-image work: :class:`LocalEngine` (the default) or
    :class:`discover_core.distributed.RayEngine`; rows are written here, as they arrive, whichever it is. The
    run holds the run folder's lock (:meth:`Store.writing`): a second run of the same folder is refused while
    this one lives."""
    with store.writing():
        return _run_cells(cells, dataset, store, opts or RunSettings(), progress, log, engine or LocalEngine())


def _run_cells(cells: list[Cell], dataset: Dataset, store: Store, opts: RunSettings, progress: Callable | None,
               log: Callable[[str], None] | None, engine: Any) -> Stats:
    from contextlib import nullcontext

    stats = Stats()
    t_start = time.perf_counter()
    store.claim_dataset(dataset.spec, dataset.fingerprint)
    ids = [c.cell_id(dataset) for c in cells]
    for cell, cid in zip(cells, ids):
        store.add_cell(cid, cell.name, cell.position, cell.overrides, cell.config, cell.versions, dataset.spec,
                       dataset.fingerprint, len(dataset))
    done = {cid: store.done_images(cid) for cid in ids}
    total = sum(len(dataset) - len(done[cid] & {i.id for i in dataset.items}) for cid in ids)
    bar = progress() if progress else nullcontext()
    with bar as b:
        job = b.add_task("evaluate", total=total) if b else None

        def image_done(index: int, rows: list[dict], feats: list) -> None:
            cell = cells[index]
            store.write_image(ids[index], rows, cell.config, cell.versions, dataset.fingerprint, feats)
            checkpoint("committed")
            stats.images += 1
            if b:
                b.advance(job)

        def image_failed(index: int, item: Item, error: str, attempts: int, input_error: bool = False) -> None:
            store.record_failure(ids[index], item.id, item.name, error, attempts)
            stats.failed += 1
            stats.input_errors += bool(input_error)
            if log:
                log(f"{cells[index].name} · {item.name}: failed after {attempts} attempt(s): {error}")
            if b:
                b.advance(job)

        def cell_done(index: int) -> None:
            aggregate_cell(store, ids[index], cells[index].pipeline, dataset)
            if log:
                log(f"cell {cells[index].name}: done")

        def describe(text: str) -> None:
            if b:
                b.update(job, description=text)

        engine.run(Work(cells, ids, dataset, done, store, opts, stats, image_done, image_failed, cell_done,
                        describe))
    stats.wall_s = time.perf_counter() - t_start
    store.set_meta("last_run", {**asdict(stats), "engine": getattr(engine, "name", type(engine).__name__)})
    return stats
