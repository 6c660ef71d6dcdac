"""``discover encode``: images (files, or folders of them) into streams, in this process or on Ray actors.

A run folder remembers which pipeline wrote it (``.discover-encode.json``: a fingerprint of the resolved pipeline
and its plugins' versions), so ``--resume`` can skip the streams already written without ever keeping a stream
of another pipeline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
from rich.table import Table

from .cli_common import (OUTPUT, OUTPUT_RULE, PIPELINE, PIPELINE_HELP, STREAM_SUFFIX, TABLE_ROWS, Outputs, Target,
                         expand_folders, item_failed, out, output_files, progress, run_each)
from .cli_engine import engine_options
from .errors import InputError
from .images import atomic_write_bytes, load_image
from .ratecontrol import LADDER, encode_at_agreement

MANIFEST = ".discover-encode.json"


def pipeline_fingerprint(pipeline) -> str:
    """The resolved pipeline and the plugin, version and format version of every slot."""
    from .evaluate.sweep import single_cell

    cell = single_cell(pipeline)
    text = json.dumps([cell.config, cell.versions], sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _claim(out_dir: Path, fingerprint: str, resume: bool):
    """Refuse to resume another pipeline's folder; the function that records this pipeline (called with the first
    stream written, so a run that writes nothing leaves the folder as it was)."""
    file = out_dir / MANIFEST
    try:
        known = json.loads(file.read_text()).get("pipeline") if file.is_file() else None
    except (OSError, ValueError):
        known = None
    if resume and known is not None and known != fingerprint:
        raise InputError(f"the streams in {out_dir} were written by another pipeline (or other plugin versions)",
                         "give a new output folder, or drop --resume to encode every image again")
    state = {"written": known == fingerprint}

    def record() -> None:
        if not state["written"]:
            atomic_write_bytes(file, json.dumps({"pipeline": fingerprint}, indent=1).encode())
            state["written"] = True
    return record


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-c", "--config", "pipeline_file", type=PIPELINE, default=None,
              help=f"The {PIPELINE_HELP}; default: the built-in default pipeline.")
@click.option("-o", "--output", "target", required=True, type=OUTPUT,
              help=f"A folder for the streams (<image stem>.dscv), or a .dscv file for one image. {OUTPUT_RULE}")
@click.option("--device", default="cpu", show_default=True, help="Torch device for model components (cpu, cuda).")
@click.option("--resume", is_flag=True, help="skip images whose stream is already in the folder (written by this "
                                             "same pipeline; another pipeline's folder is refused)")
@click.option("--rate-control", "rate_control", type=click.Choice(["agreement"]), default=None,
              help="closed-loop machine rate control: code each image at the lowest --ladder quality at which "
                   "the pipeline's own task heads, run on each task's decoded part, agree with their answers on "
                   "the original (local engine only)")
@click.option("--min-agreement", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
              help="with --rate-control: the agreement every head must reach (classification: same top-1; "
                   "detection: the image's agreement AP)")
@click.option("--ladder", default=",".join(str(q) for q in LADDER), show_default=True,
              help="with --rate-control: the qualities (region_quality) searched")
@engine_options
def encode(images: tuple[Path, ...], pipeline_file: Path | None, target: Target, device: str, resume: bool,
           rate_control: str | None, min_agreement: float, ladder: str, engine) -> None:
    """Encode images (files, or folders of them) into structured streams, one per image."""
    from .builtin import default_pipeline_path
    from .pipeline import load_pipeline

    qualities = _ladder(ladder)
    if rate_control and engine.kind != "local":
        raise click.UsageError("--rate-control runs with the local engine only")
    if resume and not target.folder:
        raise click.UsageError(f"--resume skips the streams already in a folder; -o {target.path} is a file "
                               f"(end it with / for a folder)")
    with Outputs() as outputs:
        images = expand_folders(images)
        targets = dict(zip(images, output_files(target, images, [p.stem + STREAM_SUFFIX for p in images],
                                                (STREAM_SUFFIX,), "stream")))
        out_dir = outputs.check(target.path if target.folder else target.path.parent)
        pipeline = load_pipeline(pipeline_file or default_pipeline_path(), device=device)
        if engine.kind == "local":
            pipeline.build_all()  # a failing component fails once, here (on Ray: in the actors, before any image)
        claimed = _claim(out_dir, pipeline_fingerprint(pipeline), resume) if target.folder else (lambda: None)
        outputs.make(out_dir)
        _encode(pipeline, images, targets, str(target), resume, engine, (qualities, min_agreement) if rate_control
                else None, lambda: (claimed(), outputs.keep()))


def _encode(pipeline, images, targets: dict, where: str, resume: bool, engine, rate: tuple | None,
            claimed) -> None:
    """Encode ``images`` not yet done into ``targets``; ``rate``: (ladder, min agreement) of --rate-control."""
    todo = [p for p in images if not (resume and targets[p].is_file())]
    if len(todo) < len(images):
        out.print(f"{len(images) - len(todo)} stream(s) already in {where} (skipped)", markup=False)
    table = Table("image", "stream", "bytes", "bpp", "content chunks", "tasks", "labels")
    total = {"bytes": 0, "pixels": 0}

    def written(path: Path, r: dict) -> None:
        claimed()
        atomic_write_bytes(targets[path], r["data"])
        w, h, n = r["width"], r["height"], len(r["data"])
        total["bytes"] += n
        total["pixels"] += w * h
        if len(todo) <= TABLE_ROWS:
            table.add_row(str(path), str(targets[path]), str(n), f"{n * 8 / (w * h):.4f}", str(r["content"]),
                          ", ".join(r["tasks"]), ", ".join(r["labels"]))

    def work(path: Path) -> None:
        image, meta = load_image(path)
        if rate:
            choice = encode_at_agreement(pipeline, image, meta, *rate)
            stream = choice.stream
            if not choice.agreed:
                out.print(f"{path}: no quality of the ladder reached agreement {rate[1]}; coded at "
                          f"{choice.quality}", markup=False)
        else:
            stream = pipeline.encode(image, meta)
        h, w = image.shape[:2]
        written(path, {"data": stream.to_bytes(), "width": w, "height": h, "content": stream.content_count,
                       "tasks": stream.header.tasks, "labels": stream.header.labels})

    try:
        if engine.kind == "ray":
            _encode_on_ray(pipeline, todo, engine.ray, written)
        else:
            run_each(todo, "encoding", work)
    finally:
        if table.row_count and len(todo) <= TABLE_ROWS:
            out.print(table)
        if total["pixels"]:
            out.print(f"{len(todo)} image(s) -> {where}: {total['bytes']} bytes, "
                      f"{total['bytes'] * 8 / total['pixels']:.4f} bpp over all pixels", markup=False)


def _ladder(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of qualities", param_hint="--ladder") \
            from None
    if not values or not all(0 <= v <= 100 for v in values):
        raise click.BadParameter("give qualities from 0 to 100", param_hint="--ladder")
    return values


def _encode_on_ray(pipeline, paths: list[Path], opts, written) -> None:
    from .distributed.encode import encode_on_ray

    code = {"exit": 0}
    with progress() as bar:
        task = bar.add_task("encoding (ray)", total=len(paths))

        def done(path: Path, result: dict) -> None:
            written(path, result)
            bar.advance(task)

        def failed(path: Path, error: str, user_error: bool) -> None:
            code["exit"] = item_failed(path, error, None, not user_error, code["exit"])
            bar.advance(task)

        encode_on_ray(pipeline, paths, opts, done, failed)
    if code["exit"]:
        raise SystemExit(code["exit"])


__all__ = ["encode", "pipeline_fingerprint"]
