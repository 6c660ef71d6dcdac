"""Pipeline files: YAML -> pydantic models, validated in two stages.

Stage 1 checks the file's shape (:class:`PipelineConfig`, schema 2; schema 1
files are checked as :class:`PipelineConfigV1` and migrated). Stage 2 checks
each slot's options against the named plugin's ``Options`` model. All
problems of both stages are collected and reported together, each with its
path as written in the file (``grounders[0].options.box_threshold``). Then
cross-slot checks: the entropy model's output must suit the composer (an
error), and a static label that no grounder can produce is a warning. Nothing
is built or downloaded here.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from .errors import ConfigError
from .interfaces import KINDS, Context, Options, normalize_label
from .plugins import Registry, get_registry

SCHEMA_VERSION = 2
TASK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SECRET_KEY = re.compile(r"(api_?key|token|password|secret)$", re.IGNORECASE)
SECRET_VALUE = re.compile(r"^(sk-|sk_|ghp_|xox[abp]-|AKIA)[A-Za-z0-9_\-]{16,}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Slot(_Strict):
    """One component of a pipeline: a registered plugin name and its options."""

    plugin: str = Field(description="registered component name (see `discover plugins`); `plugin:name` picks one "
                                    "of two components that share a name")
    options: dict[str, Any] = Field(default_factory=dict, description="the component's options")


class TaskConfig(_Strict):
    """A machine task: its name and description, where its labels come from, and the heads that measure it."""

    name: str = Field(pattern=TASK_NAME, description="task name, used to tag and extract chunks")
    description: str = Field("", description="what the task needs, in words (given to LLM label sources)")
    label_source: Slot = Field(description="where the task's candidate labels come from")
    task_heads: list[Slot] = Field(default_factory=list, description="models that measure the task on decodes")


class PipelineConfig(_Strict):
    """The shape of a pipeline file (schema 2): several tasks served by one encode."""

    schema_version: Literal[2] = Field(description="pipeline file format version")
    name: str | None = Field(None, description="a name for this pipeline")
    tasks: list[TaskConfig] = Field(min_length=1, description="the tasks one stream serves")
    grounders: list[Slot] = Field(min_length=1, description="grounders; each image is grounded once by each, "
                                                            "with the candidate labels it can serve")
    entropy_model: Slot
    composer: Slot

    @field_validator("tasks")
    @classmethod
    def _unique_task_names(cls, tasks: list[TaskConfig]) -> list[TaskConfig]:
        seen = set()
        for t in tasks:
            if t.name in seen:
                raise ValueError(f"task name '{t.name}' is used twice")
            seen.add(t.name)
        return tasks


class _TaskV1(_Strict):
    name: str = Field(pattern=TASK_NAME)
    description: str = ""


class PipelineConfigV1(_Strict):
    """The shape of a schema 1 file (one task, one grounder); migrated to schema 2 on load."""

    schema_version: Literal[1]
    name: str | None = None
    task: _TaskV1
    label_source: Slot
    grounder: Slot
    entropy_model: Slot
    composer: Slot
    task_heads: list[Slot] = Field(default_factory=list)


def migrate_v1(data: dict) -> dict:
    """A schema 1 mapping as the equivalent schema 2 mapping."""
    d = copy.deepcopy(data)
    task = dict(d.get("task") or {})
    task["label_source"] = d.get("label_source")
    task["task_heads"] = d.get("task_heads") or []
    out = {"schema_version": 2}
    if d.get("name") is not None:
        out["name"] = d["name"]
    out.update(tasks=[task], grounders=[d.get("grounder")], entropy_model=d.get("entropy_model"),
               composer=d.get("composer"))
    return out


# Where each slot of a schema 1 file went in schema 2, for messages in the file's own terms.
_V1_PATHS = {"tasks[0].label_source": "label_source", "grounders[0]": "grounder", "tasks[0].task_heads": "task_heads"}


@dataclass(frozen=True)
class SlotRef:
    """One component slot of a pipeline: its path in the (schema 2) file, kind and slot."""

    path: str
    kind: str
    slot: Slot
    task: str | None = None


def slots(config: PipelineConfig) -> Iterator[SlotRef]:
    """Every component slot, in pipeline order."""
    for i, t in enumerate(config.tasks):
        yield SlotRef(f"tasks[{i}].label_source", "label_source", t.label_source, t.name)
    for i, g in enumerate(config.grounders):
        yield SlotRef(f"grounders[{i}]", "grounder", g)
    yield SlotRef("entropy_model", "entropy_model", config.entropy_model)
    yield SlotRef("composer", "composer", config.composer)
    for i, t in enumerate(config.tasks):
        for j, h in enumerate(t.task_heads):
            yield SlotRef(f"tasks[{i}].task_heads[{j}]", "task_head", h, t.name)


class ResolvedPipeline(BaseModel):
    """A validated pipeline: the schema 2 shape plus each slot's validated options (by slot path)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: PipelineConfig
    options: dict[str, Options]
    """Validated options by slot path (``entropy_model``, ``grounders[0]``, ``tasks[1].label_source`` ...)."""
    base_dir: Path
    data: dict
    """The schema 2 mapping it was validated from (for variants and sweeps)."""
    source_schema: int = SCHEMA_VERSION
    """The schema version of the file as written (1: migrated on load)."""
    warnings: list[tuple[str, str]] = Field(default_factory=list)

    def slot_options(self, ref: SlotRef) -> Options:
        return self.options[ref.path]


def _fmt_loc(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[")


def _pydantic_problems(exc: ValidationError, prefix: str = "", fields: list[str] | None = None) -> list:
    out = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown option" if prefix.endswith("options") else "unknown key"
            key = str(err["loc"][-1]) if err["loc"] else ""
            close = difflib.get_close_matches(key, fields or [], n=1, cutoff=0.6)
            if close:
                msg += f"; did you mean '{close[0]}'?"
        elif err["type"] == "missing":
            msg = "required but missing"
        out.append((_fmt_loc(prefix, err["loc"]), msg))
    return out


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise ConfigError(str(path), [("", "not a regular file")], "pass a pipeline YAML file")
        text = path.read_text(encoding="utf-8")
    except ConfigError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(str(path), [("", "file not found")], "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot read the file: {exc}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [(where, f"not valid YAML: {problem}")]) from None


def _secret_problems(options: dict, path: str) -> list[tuple[str, str]]:
    out = []
    for key, value in options.items():
        if not isinstance(value, str) or not value.strip():
            continue
        if SECRET_KEY.search(key) or SECRET_VALUE.match(value.strip()):
            out.append((f"{path}.options.{key}", "looks like a secret; secrets never go in a pipeline file: put it "
                                                 "in an environment variable and name the variable in the option "
                                                 "(e.g. api_key_env: OPENAI_API_KEY)"))
    return out


def validate_options(registry: Registry, kind: str, name: str, options: dict, path: str) -> tuple[Options | None, list]:
    """Stage 2 for one slot: the named plugin's ``Options`` model."""
    if (kind, name) in registry.ambiguous:
        err = registry.ambiguity_error(kind, name)
        return None, [(f"{path}.plugin", f"{err.message}; {err.hint}")]
    if name not in registry.components[kind]:
        return None, [(f"{path}.plugin", f"{registry.unknown_message(kind, name)} ({registry.unknown_hint(kind)})")]
    secrets = _secret_problems(options, path)
    cls = registry.components[kind][name].cls
    try:
        return (cls.Options.model_validate(options), []) if not secrets else (None, secrets)
    except ValidationError as exc:
        return None, secrets + _pydantic_problems(exc, f"{path}.options", list(cls.Options.model_fields))


def _raw_slots(data: dict) -> Iterator[tuple[str, str, Any]]:
    """(path, kind, raw slot) of a schema 2 mapping whose shape may be wrong (for stage 2 after stage 1 failed)."""
    tasks = data.get("tasks")
    for i, t in enumerate(tasks if isinstance(tasks, list) else []):
        if isinstance(t, dict):
            yield f"tasks[{i}].label_source", "label_source", t.get("label_source")
            heads = t.get("task_heads")
            for j, h in enumerate(heads if isinstance(heads, list) else []):
                yield f"tasks[{i}].task_heads[{j}]", "task_head", h
    grounders = data.get("grounders")
    for i, g in enumerate(grounders if isinstance(grounders, list) else []):
        yield f"grounders[{i}]", "grounder", g
    yield "entropy_model", "entropy_model", data.get("entropy_model")
    yield "composer", "composer", data.get("composer")


def _to_v1_path(path: str) -> str:
    for new, old in _V1_PATHS.items():
        if path == new or path.startswith(new + ".") or path.startswith(new + "["):
            return old + path[len(new):]
    return path.replace("tasks[0].", "task.", 1) if path.startswith("tasks[0].") else path


def resolve(data: Any, source: str = "pipeline", base_dir: Path | None = None,
            registry: Registry | None = None) -> ResolvedPipeline:
    """Validate a pipeline mapping in both stages; raise one ConfigError listing every problem."""
    registry = registry or get_registry()
    if not isinstance(data, dict):
        raise ConfigError(source, [("", f"a pipeline file is a mapping, got {type(data).__name__}")],
                          "see examples/pipelines/ for the format")
    version = data.get("schema_version")
    if version == 1:
        try:
            PipelineConfigV1.model_validate(data)
            problems: list = []
        except ValidationError as exc:
            problems = _pydantic_problems(exc)
        data = migrate_v1(data)
        rename = _to_v1_path
    elif version == 2:
        problems, rename = [], (lambda p: p)
    else:
        raise ConfigError(source, [("schema_version", f"must be 1 or 2, got {version!r}")],
                          "start from a file in examples/pipelines/ (schema_version: 2)")
    config = None
    if not problems:
        try:
            config = PipelineConfig.model_validate(data)
        except ValidationError as exc:
            problems = _pydantic_problems(exc)
    options: dict[str, Options] = {}
    if config is None:
        # Stage 2 still runs on the slots that have the right shape, so one run shows everything.
        for path, kind, raw in _raw_slots(data):
            if isinstance(raw, dict) and isinstance(raw.get("plugin"), str) and isinstance(raw.get("options", {}),
                                                                                           dict):
                problems += validate_options(registry, kind, raw["plugin"], raw.get("options") or {}, path)[1]
        raise ConfigError(source, [(rename(p), m) for p, m in problems],
                          "run `discover schema` for the format, `discover plugins` for names")
    for ref in slots(config):
        opts, errs = validate_options(registry, ref.kind, ref.slot.plugin, ref.slot.options, ref.path)
        problems += errs
        if opts is not None:
            options[ref.path] = opts
    warnings: list[tuple[str, str]] = []
    if "entropy_model" in options and "composer" in options:
        problems += _pairing_problems(registry, config, options)
    if not problems:
        warnings = _label_warnings(registry, config, options, base_dir or Path("."))
    if problems:
        raise ConfigError(source, [(rename(p), m) for p, m in problems],
                          "run `discover plugins show NAME` to see a component's options")
    return ResolvedPipeline(config=config, options=options, base_dir=base_dir or Path("."), data=data,
                            source_schema=version, warnings=[(rename(p), m) for p, m in warnings])


def _pairing_problems(registry: Registry, config: PipelineConfig, options: dict) -> list[tuple[str, str]]:
    em = registry.get("entropy_model", config.entropy_model.plugin).cls
    comp = registry.get("composer", config.composer.plugin).cls
    rep, space = em.produces_for(options["entropy_model"])
    if comp.can_compose(rep, space):
        return []
    what = f"'{rep}'" + (f" in latent space '{space}'" if rep == "latent" and space else "")
    return [("composer.plugin", f"composer '{comp.name}' accepts {sorted(comp.accepts)}"
                                + (f" (latent spaces {sorted(comp.latent_spaces)})" if comp.latent_spaces else "")
                                + f", but entropy model '{em.name}' with these options produces {what}")]


def _label_warnings(registry: Registry, config: PipelineConfig, options: dict, base_dir: Path) -> list:
    """Static labels that no grounder of the pipeline can ever produce (each task's label source)."""
    context = Context(base_dir=base_dir)
    vocab: set[str] = set()
    for i, g in enumerate(config.grounders):
        try:
            v = registry.get("grounder", g.plugin).cls.vocabulary(options[f"grounders[{i}]"], context)
        except Exception:  # noqa: BLE001 - a warning check must never turn a valid file into a failure
            return []
        if v is None:  # an open-vocabulary grounder can produce anything
            return []
        vocab |= set(v)
    out = []
    for i, t in enumerate(config.tasks):
        path = f"tasks[{i}].label_source"
        try:
            known = registry.get("label_source", t.label_source.plugin).cls.known_labels(options[path], context)
        except Exception:  # noqa: BLE001 - e.g. a label file that does not exist yet: the run will say so
            continue
        if known is None:
            continue
        lost = [lab for lab in known if normalize_label(lab) not in vocab]
        if lost and len(lost) == len(known):
            out.append((path, f"none of the task's {len(known)} labels can be produced by the pipeline's "
                              f"grounders ({', '.join(g.plugin for g in config.grounders)}), so its part of the "
                              f"stream will hold no regions"))
        elif lost:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            out.append((path, f"{len(lost)} of {len(known)} labels can never be produced by the pipeline's "
                              f"grounders: {shown}"))
    return out


def load_config(path: str | Path, registry: Registry | None = None) -> ResolvedPipeline:
    """Read and validate a pipeline file; no model is built."""
    path = Path(path)
    return resolve(load_yaml(path), str(path), path.resolve().parent, registry)


def set_path(data: dict, path: str, value: Any) -> dict:
    """A copy of a pipeline mapping with ``path`` (``grounders[0].plugin``, ``entropy_model.options.x``) set."""
    out = copy.deepcopy(data)
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    if not parts:
        raise ConfigError("override", [(path, "empty path")])
    node: Any = out
    for i, part in enumerate(parts):
        key: Any = int(part) if part.isdigit() else part
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not isinstance(key, int) or not 0 <= key < len(node):
                raise ConfigError("override", [(path, f"no item [{part}] here")])
        elif isinstance(node, dict):
            if isinstance(key, int):
                raise ConfigError("override", [(path, f"[{part}] indexes a mapping")])
            if not last and key not in node:
                node[key] = {}
        else:
            raise ConfigError("override", [(path, f"'{part}' goes below a value that is not a mapping or a list")])
        if last:
            node[key] = value
        else:
            node = node[key]
    return out


def json_schema(registry: Registry | None = None) -> dict:
    """JSON Schema of a (schema 2) pipeline file, with each slot's options for every installed plugin."""
    registry = registry or get_registry()

    def slot_union(kind: str):
        variants = []
        for reg in registry.all(kind):
            names = [reg.qualified] + ([reg.name] if (kind, reg.name) not in registry.ambiguous else [])
            model = create_model(
                f"{kind.title().replace('_', '')}_{reg.plugin}_{reg.name}".replace("-", "_").replace(".", "_"),
                __config__=ConfigDict(extra="forbid", title=f"{reg.qualified}"),
                plugin=(Literal[tuple(names)], Field(description=reg.cls.summary())),  # type: ignore[valid-type]
                options=(reg.cls.Options, Field(default_factory=reg.cls.Options)),
            )
            variants.append(model)
        if not variants:
            return Slot
        if len(variants) == 1:
            return variants[0]
        return Annotated[Union[tuple(variants)], Field(discriminator="plugin")]  # type: ignore[return-value]

    task = create_model(
        "Task", __config__=ConfigDict(extra="forbid"),
        name=(str, Field(pattern=TASK_NAME, description="task name, used to tag and extract chunks")),
        description=(str, Field("", description="what the task needs, in words")),
        label_source=(slot_union("label_source"), ...),
        task_heads=(list[slot_union("task_head")], []),  # type: ignore[misc]
    )
    model = create_model(
        "DiscoverPipeline",
        __config__=ConfigDict(extra="forbid"),
        schema_version=(Literal[2], ...),
        name=(str | None, None),
        tasks=(list[task], Field(min_length=1)),  # type: ignore[valid-type]
        grounders=(list[slot_union("grounder")], Field(min_length=1)),  # type: ignore[misc]
        entropy_model=(slot_union("entropy_model"), ...),
        composer=(slot_union("composer"), ...),
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "discover pipeline (schema 2)"
    return schema


assert {"label_source", "grounder", "entropy_model", "composer", "task_head"} == set(KINDS)
