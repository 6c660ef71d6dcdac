"""``discover labels``: generate, show and freeze the candidate labels of a pipeline's tasks.

Added to the main command with ``cli.add_command(labels)``. Works on every task whose label source keeps a
label cache, i.e. has these two methods (the LLM sources of ``discover_llm`` do):

``cached_labels(task) -> dict | None``
    the cached entry, never a request;
``generate_labels(task, refresh=False) -> dict``
    the entry, asked for (and stored) unless cached or ``refresh``.

An entry is a mapping with ``labels`` (list of str), ``key`` (what it is cached by), ``provenance`` (``model``,
``served_model``, ``date``, ``requests``, ``raw``), ``path`` (the cache file) and, from ``generate_labels``,
``requests_made`` (0 when it came from the cache). Other label sources are listed as having nothing to
cache. Errors are :class:`~.errors.DiscoverError` s (exit 2); anything else raised by a source is a
:class:`~.errors.PluginBug` of its distribution.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click
import yaml

from . import build as builder
from .cli_common import OUTPUT, OUTPUT_RULE, PIPELINE, PIPELINE_HELP, Group, Outputs, Target, output_files
from .errors import DiscoverError
from .images import atomic_write_bytes
from .interfaces import LabelSource, TaskSpec


def caches_labels(source: LabelSource) -> bool:
    """Whether a label source keeps a label cache (see the module docstring)."""
    return callable(getattr(source, "cached_labels", None)) and callable(getattr(source, "generate_labels", None))


def _tasks(config: Path, wanted: tuple[str, ...]) -> tuple[Any, list[tuple[TaskSpec, LabelSource]]]:
    from .pipeline import load_pipeline

    pipeline = load_pipeline(config)
    names = [t.name for t in pipeline.tasks]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise DiscoverError(f"{config} has no task {', '.join(repr(u) for u in unknown)}",
                            f"its tasks are: {', '.join(names)}")
    tasks = [t for t in pipeline.tasks if not wanted or t.name in wanted]
    return pipeline, [(t, pipeline.label_sources[t.name]) for t in tasks]


def _source_name(source: LabelSource) -> str:
    return getattr(type(source), "name", type(source).__name__)


def _row(task: TaskSpec, source: LabelSource, entry: dict | None) -> dict:
    row: dict[str, Any] = {"task": task.name, "description": task.description, "source": _source_name(source),
                           "cached": entry is not None}
    if entry is not None:
        prov = entry.get("provenance") or {}
        row.update({"model": prov.get("model"), "served_model": prov.get("served_model"),
                    "date": prov.get("date"), "requests": prov.get("requests"), "path": entry.get("path"),
                    "count": len(entry["labels"]), "labels": list(entry["labels"])})
    return row


@click.group("labels", cls=Group)
def labels() -> None:
    """Candidate labels of a pipeline's tasks: ask the label source once, cache, show, freeze to a file."""


_config = click.option("-c", "--config", "config", required=True, type=PIPELINE, help=f"The {PIPELINE_HELP}.")
_task = click.option("--task", "tasks", multiple=True, help="Only this task (repeatable); default: every task.")


@labels.command("generate")
@_config
@_task
@click.option("--refresh", is_flag=True, help="Ask again even when the labels are cached.")
def labels_generate(config: Path, tasks: tuple[str, ...], refresh: bool) -> None:
    """Ask each task's label source for its labels and cache them (a cached task makes no request)."""
    _, pairs = _tasks(config, tasks)
    for task, source in pairs:
        name = _source_name(source)
        if not caches_labels(source):
            click.echo(f"{task.name}: label source '{name}' keeps no cache; nothing to generate")
            continue
        entry = builder.call(source, f"generating labels for task '{task.name}'", source.generate_labels, task,
                             refresh=refresh)
        made = int(entry.get("requests_made", 0))
        model = (entry.get("provenance") or {}).get("model", "?")
        where = f" -> {entry['path']}" if entry.get("path") else ""
        how = (f"asked {name} model '{model}' ({made} request{'s' if made != 1 else ''})" if made else
               "cached, no request (--refresh asks again)")
        click.echo(f"{task.name}: {len(entry['labels'])} labels, {how}{where}")


@labels.command("show")
@_config
@_task
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with every label).")
def labels_show(config: Path, tasks: tuple[str, ...], as_json: bool) -> None:
    """Print what is cached for each task (never asks a model)."""
    _, pairs = _tasks(config, tasks)
    rows = []
    for task, source in pairs:
        entry = builder.call(source, f"reading cached labels of task '{task.name}'", source.cached_labels, task) \
            if caches_labels(source) else None
        rows.append((_row(task, source, entry), caches_labels(source)))
    if as_json:
        click.echo(json.dumps([r for r, _ in rows], indent=2, ensure_ascii=False))
        return
    for row, caching in rows:
        if not caching:
            click.echo(f"{row['task']}: label source '{row['source']}' keeps no cache")
        elif not row["cached"]:
            click.echo(f"{row['task']}: not cached (discover labels generate -c {config})")
        else:
            click.echo(f"{row['task']}: {row['count']} labels from {row['source']} model '{row['model']}' "
                       f"({row['date']}, {row['requests']} request(s)), {row['path']}")
            click.echo("  " + ", ".join(row["labels"]))


@labels.command("freeze")
@_config
@_task
@click.option("-o", "--output", "output", required=True, type=OUTPUT,
              help=f"A .yaml file (one task), or a folder that gets <task>.yaml for each task. {OUTPUT_RULE}")
def labels_freeze(config: Path, tasks: tuple[str, ...], output: Target) -> None:
    """Write the cached labels to a YAML file that the `static` label source reads (`file:`)."""
    _, pairs = _tasks(config, tasks)
    pairs = [(t, s) for t, s in pairs if caches_labels(s)]
    if not pairs:
        raise DiscoverError(f"no task of {config} has a label source that caches labels"
                            + (f" among {', '.join(tasks)}" if tasks else ""),
                            "freeze works on LLM label sources (openai, ollama)")
    if not output.folder and len(pairs) > 1:
        raise DiscoverError(f"{len(pairs)} tasks have cached labels ({', '.join(t.name for t, _ in pairs)}) "
                            f"and {output} is one file", "pick one with --task NAME, or give a folder as -o DIR/")
    paths = output_files(output, [Path(t.name) for t, _ in pairs], [f"{t.name}.yaml" for t, _ in pairs],
                         (".yaml", ".yml"), "label list")
    entries = []
    for task, source in pairs:
        entry = builder.call(source, f"reading cached labels of task '{task.name}'", source.cached_labels, task)
        if entry is None:
            raise DiscoverError(f"the labels of task '{task.name}' are not cached yet",
                                f"discover labels generate -c {config} --task {task.name}")
        entries.append(entry)
    with Outputs() as outputs:
        for (task, source), entry, path in zip(pairs, entries, paths):
            outputs.check(path.parent)
            _freeze(task, source, entry, path)


def _freeze(task: TaskSpec, source: LabelSource, entry: dict, path: Path) -> None:
    prov = entry.get("provenance") or {}
    doc = {"task": task.name, "description": task.description, "source": _source_name(source),
           "model": prov.get("model"), "served_model": prov.get("served_model"), "date": prov.get("date"),
           "frozen": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "labels": list(entry["labels"])}
    text = ("# Candidate labels frozen by `discover labels freeze`; read them with\n"
            f"#   label_source: {{plugin: static, options: {{file: {path.name}}}}}\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100))
    atomic_write_bytes(path, text.encode("utf-8"))
    click.echo(f"{task.name}: {len(entry['labels'])} labels -> {path}")
