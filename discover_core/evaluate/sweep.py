"""Ablation files: a base pipeline plus a grid of overrides by path; every cell validated before anything runs.

::

    name: rate-sweep
    base: ../pipelines/classification-cam.yaml   # relative to this file; or `default`; or `pipeline: {...}`
    data: demo                                   # default dataset (``--data`` overrides it)
    grid:                                        # the product of every axis
      grounders[0]:                              # a whole slot (plugins included) ...
        - {plugin: cam, options: {cam_threshold: 0.3}}
        - {_name: oracle, plugin: boxes, options: {file: annotations.json}}
      entropy_model.options.region_quality: [30, 50, 70]   # ... or one option
    rate: entropy_model.options.region_quality   # the axis along which points form an RD curve (optional)
    anchor: "grounders[0]=cam"                   # the curve BD tables compare against (optional)

``cells:`` (a list of ``{name, overrides}``) may replace or extend ``grid``. A mapping value may carry
``_name`` (dropped before validation) to name it in cell names. Relative file paths in overrides are
relative to the base pipeline's folder, as in the pipeline file itself.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import load_yaml
from ..errors import ConfigError
from ..pipeline import Pipeline, load_pipeline, pipeline_from_dict
from .runner import Cell

KEYS = {"name", "base", "pipeline", "data", "grid", "cells", "rate", "anchor", "description"}


@dataclass
class Ablation:
    name: str
    cells: list[Cell]
    data: str | None = None
    rate: str | None = None
    anchor: str | None = None
    axes: list[str] = field(default_factory=list)


def _short_path(path: str) -> str:
    parts = path.split(".")
    return parts[-1] if len(parts) > 1 and parts[-2] == "options" else path


def _short_value(value: Any) -> str:
    if isinstance(value, dict):
        if "_name" in value:
            return str(value["_name"])
        if "plugin" in value:
            opts = value.get("options") or {}
            inner = ",".join(f"{k}={_short_value(v)}" for k, v in opts.items() if not isinstance(v, (dict, list)))
            return f"{value['plugin']}({inner})" if inner else str(value["plugin"])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return "[" + ",".join(_short_value(v) for v in value[:4]) + ("…" if len(value) > 4 else "") + "]"
    return str(value)


def _strip_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in value.items() if k != "_name"}
    if isinstance(value, list):
        return [_strip_names(v) for v in value]
    return value


def cell_name(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{_short_path(k)}={_short_value(v)}" for k, v in overrides.items()) or "base"


def load_ablation(path: str | Path, device: str = "cpu", registry=None) -> Ablation:
    path = Path(path)
    data = load_yaml(path)
    source = str(path)
    if not isinstance(data, dict):
        raise ConfigError(source, [("", "an ablation file is a mapping (base, grid, ...)")])
    unknown = sorted(set(data) - KEYS)
    problems = [(k, f"unknown key; keys are {', '.join(sorted(KEYS))}") for k in unknown]
    if ("base" in data) == ("pipeline" in data):
        problems.append(("base", "give exactly one of base (a pipeline file) or pipeline (inline)"))
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        problems.append(("grid", "a mapping from an override path to a non-empty list of values"))
        grid = {}
    extra = data.get("cells") or []
    if not isinstance(extra, list) or not all(isinstance(c, dict) and isinstance(c.get("overrides", {}), dict)
                                              for c in extra):
        problems.append(("cells", "a list of {name, overrides}"))
        extra = []
    if problems:
        raise ConfigError(source, problems, "see examples/ablations/ for the format")
    base = _base(data, path, device, registry)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
    if not combos and not extra:
        combos = [{}]
    named = [(cell_name(o), o) for o in combos] + [(str(c.get("name") or cell_name(c.get("overrides") or {})),
                                                  c.get("overrides") or {}) for c in extra]
    cells, problems = [], []
    for position, (name, overrides) in enumerate(named):
        clean = {k: _strip_names(v) for k, v in overrides.items()}
        try:
            pipeline = base.with_overrides(clean)
        except ConfigError as exc:
            problems += [(f"cell {position} ({name}): {p}" if p else f"cell {position} ({name})", m)
                         for p, m in exc.problems]
            continue
        cells.append(Cell(name, pipeline, overrides=clean, position=position))
    if problems:
        raise ConfigError(source, problems, "every cell of the grid must be a valid pipeline; nothing was run")
    rate = data.get("rate")
    if rate is not None and rate not in grid:
        raise ConfigError(source, [("rate", f"'{rate}' is not an axis of the grid ({', '.join(grid) or 'none'})")])
    return Ablation(str(data.get("name") or path.stem), cells, data.get("data"), rate, data.get("anchor"),
                    list(grid))


def _base(data: dict, path: Path, device: str, registry=None) -> Pipeline:
    if "pipeline" in data:
        return pipeline_from_dict(data["pipeline"], device=device, base_dir=path.resolve().parent,
                                  registry=registry)
    base = str(data["base"])
    if base == "default":
        from ..builtin import default_pipeline_path

        return load_pipeline(default_pipeline_path(), device=device, registry=registry)
    file = Path(base)
    file = file if file.is_absolute() else path.resolve().parent / file
    return load_pipeline(file, device=device, registry=registry)


def single_cell(pipeline: Pipeline, name: str | None = None) -> Cell:
    """The one cell of ``discover evaluate``."""
    return Cell(name or pipeline.config.name or "pipeline", pipeline)
