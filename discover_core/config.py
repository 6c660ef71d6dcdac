"""Pipeline files: YAML -> pydantic models, validated in two stages.

Stage 1 checks the file's shape (:class:`PipelineConfig`). Stage 2 checks each
slot's options against the named plugin's ``Options`` model. All problems of
both stages are collected and reported together, each with its path
(``grounder.options.box_threshold``). Nothing is built or downloaded here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import ConfigError
from .interfaces import KINDS, Options
from .plugins import Registry, get_registry

SLOT_KINDS = {
    "label_source": "label_source",
    "grounder": "grounder",
    "entropy_model": "entropy_model",
    "composer": "composer",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Slot(_Strict):
    """One component of a pipeline: a registered plugin name and its options."""

    plugin: str = Field(description="registered component name (see `discover plugins`)")
    options: dict[str, Any] = Field(default_factory=dict, description="the component's options")


class TaskConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="task name, used to tag and extract chunks")
    description: str = Field("", description="what the task needs, in words (given to LLM label sources)")


class PipelineConfig(_Strict):
    """The shape of a pipeline file."""

    schema_version: Literal[1] = Field(description="pipeline file format version")
    name: str | None = Field(None, description="a name for this pipeline")
    task: TaskConfig
    label_source: Slot
    grounder: Slot
    entropy_model: Slot
    composer: Slot
    task_heads: list[Slot] = Field(default_factory=list)


class ResolvedPipeline(BaseModel):
    """A validated pipeline: the shape plus each slot's validated options."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: PipelineConfig
    options: dict[str, Options]
    head_options: list[Options]
    base_dir: Path


def _fmt_loc(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[")


def _pydantic_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown option" if prefix.endswith("options") else "unknown key"
        elif err["type"] == "missing":
            msg = "required but missing"
        out.append((_fmt_loc(prefix, err["loc"]), msg))
    return out


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [("", "file not found")], "check the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot read the file: {exc}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [(where, f"not valid YAML: {problem}")]) from None


def validate_options(registry: Registry, kind: str, name: str, options: dict, path: str) -> tuple[Options | None, list]:
    """Stage 2 for one slot: the named plugin's ``Options`` model."""
    if (kind, name) in registry.conflicts:  # the first provider stays in components: check conflicts first
        return None, [(f"{path}.plugin", registry.conflicts[(kind, name)].message)]
    if name not in registry.components[kind]:
        return None, [(f"{path}.plugin", f"{registry.unknown_message(kind, name)} ({registry.unknown_hint(kind)})")]
    cls = registry.components[kind][name].cls
    try:
        return cls.Options.model_validate(options), []
    except ValidationError as exc:
        return None, _pydantic_problems(exc, f"{path}.options")


def resolve(data: Any, source: str = "pipeline", base_dir: Path | None = None,
            registry: Registry | None = None) -> ResolvedPipeline:
    """Validate a pipeline mapping in both stages; raise one ConfigError listing every problem."""
    registry = registry or get_registry()
    if not isinstance(data, dict):
        raise ConfigError(source, [("", f"a pipeline file is a mapping, got {type(data).__name__}")],
                          "see examples/pipelines/ for the format")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
        # Stage 2 still runs on the slots that have the right shape, so one run shows everything.
        for slot, kind in SLOT_KINDS.items():
            raw = data.get(slot)
            if isinstance(raw, dict) and isinstance(raw.get("plugin"), str) and isinstance(raw.get("options", {}), dict):
                problems += validate_options(registry, kind, raw["plugin"], raw.get("options") or {}, slot)[1]
        heads = data.get("task_heads")
        for i, raw in enumerate(heads if isinstance(heads, list) else []):
            if isinstance(raw, dict) and isinstance(raw.get("plugin"), str) and isinstance(raw.get("options", {}), dict):
                problems += validate_options(registry, "task_head", raw["plugin"], raw.get("options") or {},
                                             f"task_heads[{i}]")[1]
        raise ConfigError(source, problems, "run `discover schema` for the format, `discover plugins` for names")
    problems: list[tuple[str, str]] = []
    options: dict[str, Options] = {}
    for slot, kind in SLOT_KINDS.items():
        s: Slot = getattr(config, slot)
        opts, errs = validate_options(registry, kind, s.plugin, s.options, slot)
        problems += errs
        if opts is not None:
            options[slot] = opts
    head_options = []
    for i, head in enumerate(config.task_heads):
        opts, errs = validate_options(registry, "task_head", head.plugin, head.options, f"task_heads[{i}]")
        problems += errs
        head_options.append(opts)
    if "entropy_model" in options and "composer" in options:
        em = registry.components["entropy_model"][config.entropy_model.plugin].cls
        comp = registry.components["composer"][config.composer.plugin].cls
        if em.produces not in comp.accepts:
            problems.append(("composer.plugin", f"composer '{comp.name}' accepts {sorted(comp.accepts)}, but entropy "
                             f"model '{em.name}' produces '{em.produces}'"))
    if problems:
        raise ConfigError(source, problems, "run `discover plugins show NAME` to see a component's options")
    return ResolvedPipeline(config=config, options=options, head_options=head_options,
                            base_dir=base_dir or Path("."))


def load_config(path: str | Path, registry: Registry | None = None) -> ResolvedPipeline:
    """Read and validate a pipeline file; no model is built."""
    path = Path(path)
    return resolve(load_yaml(path), str(path), path.resolve().parent, registry)


def json_schema(registry: Registry | None = None) -> dict:
    """JSON Schema of a pipeline file, with each slot's options for every installed plugin."""
    registry = registry or get_registry()

    def slot_union(kind: str):
        variants = []
        for reg in registry.all(kind):
            model = create_model(
                f"{kind.title().replace('_', '')}_{reg.name.replace('-', '_')}",
                __config__=ConfigDict(extra="forbid", title=f"{reg.name}"),
                plugin=(Literal[reg.name], Field(description=reg.cls.summary())),  # type: ignore[valid-type]
                options=(reg.cls.Options, Field(default_factory=reg.cls.Options)),
            )
            variants.append(model)
        if not variants:
            return Slot
        if len(variants) == 1:
            return variants[0]
        return Annotated[Union[tuple(variants)], Field(discriminator="plugin")]  # type: ignore[return-value]

    model = create_model(
        "DiscoverPipeline",
        __config__=ConfigDict(extra="forbid"),
        schema_version=(Literal[1], ...),
        name=(str | None, None),
        task=(TaskConfig, ...),
        label_source=(slot_union("label_source"), ...),
        grounder=(slot_union("grounder"), ...),
        entropy_model=(slot_union("entropy_model"), ...),
        composer=(slot_union("composer"), ...),
        task_heads=(list[slot_union("task_head")], []),  # type: ignore[misc]
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "discover pipeline"
    return schema


assert set(SLOT_KINDS.values()) | {"task_head"} == set(KINDS)
