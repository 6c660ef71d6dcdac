"""The ``discover`` command: the group, the stream commands (decode, extract, info), pipeline files (validate,
migrate, schema), the demo, and ``main`` (exit codes: 0, 2 for a user error, 1 for a bug).

The other commands live in ``cli_*`` modules that this one adds; what they share is in :mod:`.cli_common`.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import traceback
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from . import __version__
from .cli_common import (OUTPUT, OUTPUT_RULE, PIPELINE, PIPELINE_HELP, STATE, STREAM_SUFFIX, Group, Outputs, Target,
                         check_writable, console, item_failed, out, output_files, parse_options, progress, read_stream,
                         run_each)
from .builtin import BUILTIN_PIPELINES
from .config import json_schema, load_config
from .errors import ConfigError, DiscoverError, InputError, OutOfMemory, PluginBug, is_out_of_memory
from .images import atomic_save_image, atomic_write_bytes, restore_mode

_state = STATE
"""``--debug`` (shared with every subcommand; tests reset it)."""
__all__ = ["STREAM_SUFFIX", "check_writable", "cli", "console", "item_failed", "main", "out", "progress",
           "read_stream", "run_each"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="discover")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """discover: semantic, task-aware image compression assembled from plugins.

    Encode once into a structured stream; send each task only its part; decode
    any part into a full picture. Built-in pipelines: `-c default` (classification)
    and `-c detection`.
    """
    _state["debug"] = bool(os.environ.get("DISCOVER_DEBUG")) or debug


# -- pipelines ---------------------------------------------------------------
@cli.command()
@click.argument("files", nargs=-1, required=True, type=PIPELINE)
def validate(files: tuple[Path, ...]) -> None:
    """Check pipeline files (shape, then every component's options) without building any model."""
    bad = 0
    for f in files:
        try:
            resolved = load_config(f)
        except ConfigError as exc:
            bad += 1
            console.print(str(exc), markup=False)
            continue
        out.print(f"{f}: ok", markup=False)
        if resolved.source_schema != 2:
            out.print(f"  schema {resolved.source_schema}: migrated on load; `discover migrate {f} -o {f}` "
                      f"upgrades the file to schema 2", markup=False)
        for path, msg in resolved.warnings:
            out.print(f"  warning: {path}: {msg}", markup=False)
    if bad:
        raise SystemExit(2)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=OUTPUT, help="Write here instead of stdout: a .yaml file (may be FILE), or a "
                                                  f"folder (gets FILE's name). {OUTPUT_RULE}")
def migrate(file: Path, output: Target | None) -> None:
    """Rewrite a pipeline file in the current schema (2); comments are not kept."""
    import yaml

    with Outputs() as outputs:
        dst = _one_file(outputs, output, file, file.name, (".yaml", ".yml"), "pipeline")
        resolved = load_config(file)
        text = f"# migrated from schema {resolved.source_schema} by `discover migrate`\n" + \
            yaml.safe_dump(resolved.data, sort_keys=False, allow_unicode=True)
        if dst is None:
            click.echo(text, nl=False)
            return
        atomic_write_bytes(dst, text.encode("utf-8"))
    out.print(f"wrote {dst}", markup=False)


@cli.command()
@click.option("-o", "--output", type=OUTPUT, help="Write here instead of stdout: a .json file, or a folder (gets "
                                                  f"pipeline.schema.json). {OUTPUT_RULE}")
def schema(output: Target | None) -> None:
    """Print the JSON Schema of pipeline files (for editors), covering the installed plugins."""
    with Outputs() as outputs:
        dst = _one_file(outputs, output, Path("schema"), "pipeline.schema.json", (".json",), "JSON Schema")
        text = json.dumps(json_schema(), indent=2)
        if dst is None:
            click.echo(text)
            return
        atomic_write_bytes(dst, text.encode() + b"\n")


def _one_file(outputs: Outputs, target: Target | None, source: Path, name: str, suffixes: tuple[str, ...],
              what: str) -> Path | None:
    """The one file a command writes under the -o rule (``None``: stdout), its folder checked."""
    if target is None:
        return None
    dst = output_files(target, [source], [name], suffixes, what)[0]
    outputs.check(dst.parent)
    return dst


# -- decode / extract / info ----------------------------------------------------------------------------------
PICTURE_SUFFIXES = {".png": "png", ".webp": "webp", ".jpg": "jpg", ".jpeg": "jpg"}


@cli.command()
@click.argument("streams", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "target", required=True, type=OUTPUT,
              help="A folder for the pictures (<stream stem>.<format>), or a picture file (.png, .webp, .jpg) for "
                   f"one stream. {OUTPUT_RULE}")
@click.option("--composer", help="Use this composer instead of the one the stream records.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="A composer option for this decode (repeatable), e.g. --option steps=8.")
@click.option("--options", "options_file", type=click.Path(path_type=Path),
              help="A YAML file of composer options (--option wins over it).")
@click.option("--format", "fmt", type=click.Choice(["png", "webp", "jpg"]), default=None,
              help="Format of the pictures in a folder (default png; a file's format is its suffix).")
@click.option("--device", default="cpu", show_default=True, help="Torch device for model components.")
@click.option("--seed", default=0, show_default=True, help="Seed of generative composers.")
@click.option("--max-memory", "max_memory", metavar="SIZE", default=None,
              help="Memory a decoder may ask for, e.g. 8GB (default 2GB, or $DISCOVER_MAX_MEMORY); streams "
                   "that would need more are refused.")
def decode(streams: tuple[Path, ...], target: Target, composer: str | None, option_pairs: tuple[str, ...],
           options_file: Path | None, fmt: str | None, device: str, seed: int, max_memory: str | None) -> None:
    """Decode full or partial streams into pictures.

    The entropy model and composer are the ones each stream records (built
    once for all streams); --composer, --option and --options choose the
    composer and its decode-time options.
    """
    from .budget import default_budget, parse_size
    from .decoding import DecodeOptions, Decoder
    from .interfaces import Context
    from .plugins import get_registry

    with Outputs() as outputs:
        if not target.folder and fmt and PICTURE_SUFFIXES.get(target.path.suffix.lower(), fmt) != fmt:
            raise InputError(f"-o {target.path} is a {target.path.suffix} file, and --format asks for {fmt}",
                             "give one of them")
        names = [p.stem + "." + (fmt or "png") for p in streams]
        targets = dict(zip(streams, output_files(target, streams, names, tuple(PICTURE_SUFFIXES), "picture")))
        folder = outputs.check(target.path if target.folder else target.path.parent)
        budget_bytes = parse_size(max_memory) if max_memory is not None else default_budget()
        options = DecodeOptions(composer=composer, composer_options=parse_options(option_pairs, options_file))
        decoder = Decoder(get_registry(), Context(device=device, seed=seed, max_memory=budget_bytes), options)
        for path in streams:  # build what the streams need first, so a component that cannot be built fails once
            try:
                stream = read_stream(path)
            except DiscoverError:
                continue  # reported in the loop
            decoder.prepare(stream)
        outputs.make(folder)

        def work(path: Path) -> None:
            stream = read_stream(path)
            atomic_save_image(targets[path], restore_mode(decoder.decode(stream), stream.header.mode))
            outputs.keep()

        run_each(list(streams), "decoding", work, unit="streams")
    out.print(f"wrote {len(streams)} picture(s) to {target}" if target.folder else f"wrote {target.path}",
              markup=False)


@cli.command()
@click.argument("stream_file", type=click.Path(path_type=Path))
@click.option("--task", help="Keep the content chunks of this task.")
@click.option("--labels", help="Keep the content chunks carrying any of these comma-separated labels.")
@click.option("-o", "--output", "target", required=True, type=OUTPUT,
              help=f"The part to write: a .dscv file, or a folder (gets <stream stem>.dscv). {OUTPUT_RULE}")
def extract(stream_file: Path, task: str | None, labels: str | None, target: Target) -> None:
    """Write the part of a stream that a task needs, without re-encoding."""
    if (task is None) == (labels is None):
        raise click.UsageError("give exactly one of --task or --labels")
    with Outputs() as outputs:
        dst = _one_file(outputs, target, stream_file, stream_file.stem + STREAM_SUFFIX, (STREAM_SUFFIX,), "stream")
        if dst.exists() and stream_file.exists() and dst.samefile(stream_file):
            raise InputError(f"-o {target} would overwrite the stream {stream_file} that the part is taken from",
                             "write the part to another file or folder")
        stream = read_stream(stream_file)
        part = stream.extract(task=task, labels=labels.split(",") if labels is not None else None)
        data = part.to_bytes()
        outputs.make(dst.parent)
        atomic_write_bytes(dst, data)
    full = len(stream.to_bytes())
    out.print(f"{dst}: {len(data)} of {full} bytes ({len(data) / full:.1%}), "
              f"{part.content_count} of {stream.content_count} content chunks", markup=False)


@cli.command()
@click.argument("stream_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the header as JSON.")
def info(stream_file: Path, as_json: bool) -> None:
    """Show a stream's header and chunk table."""
    stream = read_stream(stream_file)
    if as_json:
        out.print_json(json.dumps(stream.header.model_dump(mode="json")))
        return
    h = stream.header
    out.print(f"{stream_file}: {h.width}x{h.height} {h.mode}, {len(stream.to_bytes())} bytes "
              f"(container {stream.header_bytes()}), {stream.content_count}/{h.content_chunks_encoded} content "
              f"chunks, tasks: {', '.join(h.tasks) or '(none)'}", markup=False)
    for slot, rec in (("entropy model", h.entropy_model), ("composer", h.composer)):
        who = f"{rec.distribution} {rec.version}".strip() or "?"
        out.print(f"  {slot}: {rec.plugin} ({who}, format {rec.format_version})"
                  + (f", weights {rec.weights}" if rec.weights else "")
                  + (f", options {json.dumps(rec.options, sort_keys=True)}" if rec.options else ""), markup=False)
    table = Table("#", "kind", "name", "bytes", "labels", "boxes", "tasks")
    for i, c in enumerate(stream.chunks):
        boxes = " ".join(str(list(b)) for b in c.boxes[:INFO_BOXES])
        if len(c.boxes) > INFO_BOXES:
            boxes += f" (+{len(c.boxes) - INFO_BOXES} more)"
        table.add_row(str(i), c.kind, escape(c.name), str(len(c.payload)), escape(", ".join(c.labels)), boxes,
                      escape(", ".join(c.tasks)))
    out.print(table)


INFO_BOXES = 6
"""Boxes `discover info` shows per chunk (`--json` shows all)."""


@cli.command()
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), default=Path("discover-demo"),
              show_default=True, help="Folder for streams, pictures, tables, plot and the HTML page (always a "
                                      "folder: created, or reused).")
@click.option("-c", "--config", "pipeline_file", type=PIPELINE,
              help=f"Run this pipeline instead of the built-in ones: a {PIPELINE_HELP}.")
@click.option("--quality", "qualities", type=click.IntRange(1, 100), multiple=True,
              help="Region quality points (repeatable); default: the demo's 4 points.")
@click.option("--photo", "photos", multiple=True,
              help="Only this demo photo (repeatable), e.g. --photo chelsea; default: all of them.")
@click.option("--task", "tasks", type=click.Choice(list(BUILTIN_PIPELINES)), multiple=True,
              help="Only this built-in pipeline (repeatable); default: all three. Not with -c.")
@click.option("--device", default="cpu", show_default=True, help="Torch device for model components.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes running the built-in pipelines side by side; default: one per pipeline, sharing "
                   "the cores. 1 runs them one after the other with a progress bar.")
def demo(out_dir: Path, pipeline_file: Path | None, qualities: tuple[int, ...], photos: tuple[str, ...],
         tasks: tuple[str, ...], device: str, workers: int | None) -> None:
    """Run the built-in pipelines (classification, detection, person segmentation) on photos from installed packages.

    Writes streams, reconstructions, side-by-side pictures with the grounded
    regions, tables (summary.md, results.json), rate-agreement plots and an
    HTML page (index.html) to the output folder.
    """
    from .demo import run_demo

    with Outputs() as outputs:
        outputs.check(out_dir)  # before minutes of work, not after; created once the inputs are checked
        report = run_demo(out_dir, pipeline_file=pipeline_file, qualities=qualities or None, device=device,
                          console=out, progress=progress, photos=list(photos) or None, tasks=list(tasks) or None,
                          workers=workers)
    out.print(f"\nopen {report} in a browser")


def _add_subcommands() -> None:
    from .cli_encode import encode
    from .cli_eval import evaluate, report, sweep
    from .cli_labels import labels
    from .cli_models import models
    from .cli_plugins import plugins_cmd
    from .cli_train import train

    for command in (plugins_cmd, encode, models, labels, train, evaluate, sweep, report):
        cli.add_command(command)


_add_subcommands()

USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG}
"""Operating-system errors a user fixes (permissions, a read-only or full disk, a long name): exit 2, not a bug."""


def main_error(exc: DiscoverError) -> int:
    """Print a user error (its traceback only with --debug); its exit code."""
    if _state["debug"]:
        traceback.print_exc()
    console.print(f"[red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        console.print(f"  hint: {exc.hint}", markup=False)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="discover", standalone_mode=False)
    except click.exceptions.Abort:
        console.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except DiscoverError as exc:
        return main_error(exc)
    except PluginBug as exc:
        if _state["debug"]:
            traceback.print_exc()
        console.print(f"[red]plugin bug:[/] {escape(exc.message)}", markup=True, highlight=False)
        console.print(f"  hint: {exc.hint}", markup=False)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except OSError as exc:
        if exc.errno not in USER_OS_ERRORS:
            return _internal_error(exc)
        where = exc.filename if exc.filename is not None else "a file"
        return main_error(InputError(f"cannot use {where}: {exc.strerror or exc}",
                                     "check the path's permissions and the free space on its disk"))
    except BaseException as exc:  # noqa: BLE001 - includes a native extension's panic (a BaseException)
        return _internal_error(exc)
    return 0


def _internal_error(exc: BaseException) -> int:
    if is_out_of_memory(exc):
        return main_error(OutOfMemory("discover", "running", exc))
    if _state["debug"]:
        traceback.print_exc()
    else:
        console.print(f"[red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')}", markup=True)
        console.print("  this is a bug; run again with --debug for the traceback and report it", markup=False)
    return 1


if __name__ == "__main__":
    sys.exit(main())
