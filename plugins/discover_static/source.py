"""The ``static`` label source."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, model_validator

from discover_core.errors import InputError
from discover_core.interfaces import LabelSource, Options, PATH_OPTION, TaskSpec, unique_labels
from discover_core.labelsets import label_list, parse_label_lines


def read_label_file(path: Path) -> list[str]:
    """Labels from a text file (one per line, ``#`` comments) or a YAML list / ``{labels: [...]}``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"label file not found: {path}", "fix `label_source.options.file`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read label file {path}: {exc}") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        return parse_label_lines(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"label file {path} is not valid YAML: {exc}") from None
    if isinstance(data, dict):
        data = data.get("labels")
    if not isinstance(data, list) or not all(isinstance(x, (str, int, float)) for x in data):
        raise InputError(f"label file {path} must hold a list of labels (or a mapping with a `labels` list)")
    return [str(x).strip() for x in data if str(x).strip()]


class StaticLabels(LabelSource):
    """Fixed candidate labels: a shipped preset, a text/YAML file, or a list in the pipeline file."""

    name = "static"

    class Options(Options):
        preset: Literal["coco-80", "imagenet-1k"] | None = Field(
            None, description="a shipped label list: coco-80 (COCO categories) or imagenet-1k (ImageNet classes)")
        file: str | None = Field(
            None, description="a .txt file (one label per line, # comments) or a .yaml list; "
                              "relative to the pipeline file", json_schema_extra=PATH_OPTION)
        labels: list[str] | None = Field(None, description="labels given inline")

        @model_validator(mode="after")
        def _some(self):
            if self.preset is None and self.file is None and not self.labels:
                raise ValueError("give at least one of preset, file or labels")
            return self

    @classmethod
    def known_labels(cls, options: Options, context) -> list[str]:
        return cls(options, context).labels(TaskSpec("validate"))

    def labels(self, task: TaskSpec) -> list[str]:
        out: list[str] = []
        if self.options.preset:
            out += label_list(self.options.preset)  # the core's shipped lists (discover_core.labelsets)
        if self.options.file:
            out += read_label_file(self.context.resolve(self.options.file))
        out += [s.strip() for s in self.options.labels or [] if s.strip()]
        return unique_labels(out)
