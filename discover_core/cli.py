"""The ``discover`` command."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .bitstream import Stream
from .config import json_schema, load_config
from .errors import ConfigError, DiscoverError, InputError, OutOfMemory, PluginBug, is_out_of_memory
from .images import atomic_save_image, atomic_write_bytes, load_image, restore_mode
from .interfaces import KINDS
from .plugins import get_registry

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
_state = {"debug": bool(os.environ.get("DISCOVER_DEBUG"))}
STREAM_SUFFIX = ".dscv"


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="discover")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """discover: semantic, task-aware image compression assembled from plugins.

    Encode once into a structured stream; send each task only its part; decode
    any part into a full picture.
    """
    _state["debug"] = bool(os.environ.get("DISCOVER_DEBUG")) or debug


# -- plugins -----------------------------------------------------------------
def _kind_option():
    return click.option("--kind", type=click.Choice(KINDS), help="Only components of this kind.")


@cli.group("plugins", invoke_without_command=True)
@_kind_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins_cmd(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List every component with its kind and provider, and the plugins that failed to load."""
    if ctx.invoked_subcommand is not None:
        return
    reg = get_registry()
    rows = [{"kind": r.kind, "name": r.name, "qualified": r.qualified, "plugin": r.plugin,
             "distribution": r.distribution, "version": r.version, "summary": r.cls.summary(),
             "ambiguous": (r.kind, r.name) in reg.ambiguous, "format_version": r.cls.format_version,
             "available": not r.cls.missing_requirements(), "install": r.install_hint(),
             "missing": r.cls.missing_requirements(), "extra": r.cls.extra} for r in reg.all(kind)]
    failures = [{"plugin": f.plugin, "distribution": f.distribution, "version": f.version, "error": f.error}
                for f in reg.failures]
    if as_json:
        out.print_json(json.dumps({"components": rows, "failures": failures}))
        return
    table = Table(title="discover components", title_justify="left")
    for col in ("kind", "name", "provided by", "summary"):
        table.add_column(col)
    for r in rows:
        note = "" if r["available"] else f" [yellow](needs {', '.join(r['missing'])}: {escape(r['install'])})[/]"
        if r["ambiguous"]:
            note += f" [yellow](name shared with another plugin: use {r['qualified']})[/]"
        table.add_row(r["kind"], r["qualified"] if r["ambiguous"] else r["name"],
                      f"{r['distribution']} {r['version']}", escape(r["summary"]) + note)
    out.print(table)
    if failures:
        out.print("[red]plugins that failed to load:[/]")
        for f in failures:
            out.print(f"  {f['plugin']} ({f['distribution']} {f['version']}): {f['error']}")


@plugins_cmd.command("show")
@click.argument("name")
@_kind_option()
def plugins_show(name: str, kind: str | None) -> None:
    """Print a component's options with their types, defaults and descriptions."""
    reg = get_registry()
    found = [reg.get(kind, name)] if kind else reg.find(name)
    if not found:
        everything = sorted({n for k in KINDS for n in reg.names(k)})
        import difflib
        close = difflib.get_close_matches(name, everything, n=1, cutoff=0.5)
        raise DiscoverError(f"no component named '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                            f"installed components: {', '.join(everything)}")
    for r in found:
        out.print(f"[bold]{r.name}[/] ({r.kind.replace('_', ' ')}, {r.distribution} {r.version})")
        doc = (r.cls.__doc__ or "").strip()
        if doc:
            out.print(doc)
        if r.cls.missing_requirements():
            out.print(f"[yellow]not available: needs {', '.join(r.cls.missing_requirements())} "
                      f"({escape(r.install_hint())})[/]")
        table = Table(show_header=True)
        for col in ("option", "type", "default", "description"):
            table.add_column(col)
        for fname, field in r.cls.Options.model_fields.items():
            default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(fname, _type_name(field.annotation), default, field.description or "")
        out.print(table)


def _type_name(annotation) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


# -- pipelines ---------------------------------------------------------------
@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
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
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (may be FILE) instead of stdout.")
def migrate(file: Path, output: Path | None) -> None:
    """Rewrite a pipeline file in the current schema (2); comments are not kept."""
    import yaml

    resolved = load_config(file)
    text = f"# migrated from schema {resolved.source_schema} by `discover migrate`\n" + \
        yaml.safe_dump(resolved.data, sort_keys=False, allow_unicode=True)
    if output:
        atomic_write_bytes(output, text.encode("utf-8"))
        out.print(f"wrote {output}", markup=False)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file instead of stdout.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of pipeline files (for editors), covering the installed plugins."""
    text = json.dumps(json_schema(), indent=2)
    if output:
        atomic_write_bytes(output, text.encode() + b"\n")
    else:
        click.echo(text)


# -- encode / decode / extract ----------------------------------------------
def output_folder(path: Path) -> Path:
    """``path`` as a folder that can be written to (created), checked before any work starts."""
    import tempfile

    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write to {path}: it is a file, not a folder", "give a folder (-o DIR)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".discover-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write to {path}: {exc.strerror or exc}",
                         "choose a folder you can write to, on a disk with room") from None
    return path


def _outputs(inputs: tuple[Path, ...], out_dir: Path, suffix: str) -> list[Path]:
    targets = [out_dir / (p.stem + suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, targets):
        if dst in seen:
            raise InputError(f"{seen[dst]} and {src} would both be written to {dst}",
                             "encode them in two runs with different output folders")
        seen[dst] = src
    return targets


def item_failed(item, message: str, hint: str | None, bug: bool, code: int) -> int:
    """Print one item's failure; the exit code so far (2 if any user error, else 1 if any plugin bug)."""
    tag = "plugin bug" if bug else "error"
    console.print(f"[red]{tag}:[/] {escape(str(item))}: {escape(message)}")
    if hint:
        console.print(f"  hint: {hint}", markup=False)
    return 2 if (code == 2 or not bug) else 1


def _run_each(items, label: str, work) -> None:
    """Run ``work`` on each item with a progress bar; errors are reported per item and the rest go on.

    Exit code 2 if any item had a user error, 1 if any hit a plugin bug (and no user error).
    """
    code = 0
    with progress() as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            try:
                work(item)
            except (DiscoverError, PluginBug) as exc:
                if _state["debug"]:
                    raise
                code = item_failed(item, exc.message, exc.hint, isinstance(exc, PluginBug), code)
            bar.advance(task)
    if code:
        raise SystemExit(code)


TABLE_ROWS = 100
"""Above this many images, `discover encode` prints a summary instead of a row per image."""


def _expand_folders(inputs: tuple[Path, ...]) -> tuple[Path, ...]:
    """Files as given; a folder becomes the image files directly inside it (sorted by name)."""
    from PIL import Image

    suffixes = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in suffixes and f.is_file())
            if not found:
                raise InputError(f"{p} holds no image files", "pass image files, or a folder of them")
            out += found
        else:
            out.append(p)
    return tuple(out)


def _parse_options(pairs: tuple[str, ...], options_file: Path | None) -> dict:
    """``key=value`` pairs (values read as YAML scalars: 8, 0.5, true, [1, 2]) over an options YAML file."""
    import yaml

    from .config import load_yaml

    options: dict = {}
    if options_file is not None:
        data = load_yaml(options_file)
        if not isinstance(data, dict):
            raise ConfigError(str(options_file), [("", "an options file is a mapping of option names to values")])
        options.update(data)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


@cli.command()
@click.argument("streams", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for the pictures (<stream stem>.<format>).")
@click.option("--composer", help="Use this composer instead of the one the stream records.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="A composer option for this decode (repeatable), e.g. --option steps=8.")
@click.option("--options", "options_file", type=click.Path(path_type=Path),
              help="A YAML file of composer options (--option wins over it).")
@click.option("--format", "fmt", type=click.Choice(["png", "webp", "jpg"]), default="png", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="Torch device for model components.")
@click.option("--seed", default=0, show_default=True, help="Seed of generative composers.")
@click.option("--max-memory", "max_memory", metavar="SIZE", default=None,
              help="Memory a decoder may ask for, e.g. 8GB (default 2GB, or $DISCOVER_MAX_MEMORY); streams "
                   "that would need more are refused.")
def decode(streams: tuple[Path, ...], out_dir: Path, composer: str | None, option_pairs: tuple[str, ...],
           options_file: Path | None, fmt: str, device: str, seed: int, max_memory: str | None) -> None:
    """Decode full or partial streams into pictures.

    The entropy model and composer are the ones each stream records (built
    once for all streams); --composer, --option and --options choose the
    composer and its decode-time options.
    """
    from .budget import default_budget, parse_size
    from .interfaces import Context
    from .pipeline import compose, composer_for, decode_content, decoder_for

    budget_bytes = parse_size(max_memory) if max_memory is not None else default_budget()
    targets = dict(zip(streams, _outputs(streams, out_dir, "." + fmt)))
    output_folder(out_dir)
    registry = get_registry()
    context = Context(device=device, seed=seed, max_memory=budget_bytes)
    options = _parse_options(option_pairs, options_file)

    def components(stream: Stream):
        return (decoder_for(stream, registry, context),
                composer_for(stream, registry, context, composer, options))

    # Build what the streams need before the loop, so a component that cannot be built fails once.
    seen: set[str] = set()
    for path in streams:
        try:
            stream = read_stream(path)
        except DiscoverError:
            continue  # reported in the loop
        key = stream.header.entropy_model.model_dump_json() + stream.header.composer.model_dump_json()
        if key not in seen:
            seen.add(key)
            components(stream)

    def work(path: Path) -> None:
        stream = read_stream(path)
        em, comp = components(stream)
        image = compose(decode_content(stream, em), comp)
        atomic_save_image(targets[path], restore_mode(image, stream.header.mode))

    _run_each(list(streams), "decoding", work)
    out.print(f"wrote {len(streams)} picture(s) to {out_dir}")


def read_stream(path: Path) -> Stream:
    """A stream file, checked (a regular file, its magic before the rest is read, a size limit) and parsed."""
    from .files import read_stream_file

    return read_stream_file(path)


@cli.command()
@click.argument("stream_file", type=click.Path(path_type=Path))
@click.option("--task", help="Keep the content chunks of this task.")
@click.option("--labels", help="Keep the content chunks carrying any of these comma-separated labels.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Partial stream to write.")
def extract(stream_file: Path, task: str | None, labels: str | None, output: Path) -> None:
    """Write the part of a stream that a task needs, without re-encoding."""
    if (task is None) == (labels is None):
        raise click.UsageError("give exactly one of --task or --labels")
    stream = read_stream(stream_file)
    part = stream.extract(task=task, labels=labels.split(",") if labels is not None else None)
    data = part.to_bytes()
    atomic_write_bytes(output, data)
    full = len(stream.to_bytes())
    out.print(f"{output}: {len(data)} of {full} bytes ({len(data) / full:.1%}), "
              f"{part.content_count} of {stream.content_count} content chunks")


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
              show_default=True, help="Folder for streams, pictures, tables, plot and the HTML page.")
@click.option("-c", "--config", "pipeline_file", type=click.Path(path_type=Path),
              help="Pipeline file to run instead of the built-in default.")
@click.option("--quality", "qualities", type=click.IntRange(1, 100), multiple=True,
              help="Region quality points (repeatable); default: the demo's 4 points.")
@click.option("--photo", "photos", multiple=True,
              help="Only this demo photo (repeatable), e.g. --photo chelsea; default: all of them.")
@click.option("--task", "tasks", type=click.Choice(["classification", "detection"]), multiple=True,
              help="Only this built-in pipeline (repeatable); default: both. Not with -c.")
@click.option("--device", default="cpu", show_default=True, help="Torch device for model components.")
def demo(out_dir: Path, pipeline_file: Path | None, qualities: tuple[int, ...], photos: tuple[str, ...],
         tasks: tuple[str, ...], device: str) -> None:
    """Run the built-in pipelines (classification and detection) on real photos that ship with installed packages.

    Writes streams, reconstructions, side-by-side pictures with the grounded
    regions, tables (summary.md, results.json), rate-agreement plots and an
    HTML page (index.html) to the output folder.
    """
    from .demo import run_demo

    output_folder(out_dir)  # before minutes of work, not after
    report = run_demo(out_dir, pipeline_file=pipeline_file, qualities=qualities or None, device=device,
                      console=out, progress=progress, photos=list(photos) or None, tasks=list(tasks) or None)
    out.print(f"\nopen {report} in a browser")


def _add_subcommands() -> None:
    from .cli_encode import encode
    from .cli_eval import evaluate, report, sweep
    from .cli_labels import labels
    from .cli_models import models
    from .cli_train import train

    for command in (encode, models, labels, train, evaluate, sweep, report):
        cli.add_command(command)


_add_subcommands()


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
    except BaseException as exc:  # noqa: BLE001 - includes a native extension's panic (a BaseException)
        if is_out_of_memory(exc):
            return main_error(OutOfMemory("discover", "running", exc))
        if _state["debug"]:
            traceback.print_exc()
        else:
            console.print(f"[red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')}", markup=True)
            console.print("  this is a bug; run again with --debug for the traceback and report it", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
