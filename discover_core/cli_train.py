"""``discover train CONFIG.yaml``: train a component that can be trained (``cli.add_command(train)``).

The config names the component and its options as a pipeline slot does, plus a ``training`` mapping that
only the component understands::

    entropy_model: {plugin: hyperprior, options: {checkpoint: null, channels: 64}}
    training: {output: runs/hp, steps: 2000, lambda_rate: 1.0}

Core holds no model code: a trainable component class offers the classmethod
``trainer(options, training: dict, context) -> obj`` whose ``obj.total`` is the number of steps and
``obj.run(report) -> list[Path]`` trains, calling ``report(step, total, metrics: dict[str, float])`` after
every step, and returns the checkpoints it wrote.

``--set PATH=VALUE`` overrides a value of the config by dotted path before it is validated (exactly as if the file
said so): paths are inside ``training`` (``steps``, ``data.crop``, ``distortion[0].weight``) unless they start
with a top-level key (``training.lr``, ``entropy_model.options.channels``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from .cli_common import LineProgress, parse_pair, progress
from .config import _pydantic_problems, load_yaml, set_path
from .errors import ConfigError, PluginError
from .interfaces import KINDS, Context
from .plugins import get_registry


def build_trainer(path: Path, device: str = "cpu", registry=None, overrides: dict[str, Any] | None = None):
    """The trainer the config file at ``path`` describes, with ``overrides`` (dotted path -> value, see the module
    docstring) applied first (errors: :class:`ConfigError`, :class:`PluginError`)."""
    data = load_yaml(path)
    source = str(path) + "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
    if not isinstance(data, dict):
        raise ConfigError(source, [("", "a training config is a mapping with one component slot and `training`")])
    for where, value in (overrides or {}).items():
        full = where if where.split(".")[0].split("[")[0] in (*KINDS, "training") else f"training.{where}"
        try:
            data = set_path(data, full, value)
        except ConfigError as exc:
            raise ConfigError(source, exc.problems) from None
    slots = [k for k in data if k in KINDS]
    unknown = [k for k in data if k not in KINDS and k != "training"]
    problems = [(k, "unknown key") for k in unknown]
    if len(slots) != 1:
        problems.append(("", f"name exactly one component to train (one of {', '.join(KINDS)}), found {slots}"))
    if not isinstance(data.get("training"), dict):
        problems.append(("training", "a mapping of training settings is required"))
    if problems:
        raise ConfigError(source, problems)
    kind = slots[0]
    slot = data[kind]
    if not isinstance(slot, dict) or not isinstance(slot.get("plugin"), str):
        raise ConfigError(source, [(kind, "expected {plugin: NAME, options: {...}}")])
    reg = (registry or get_registry()).get(kind, slot["plugin"])
    reg.check_requirements()
    cls = reg.cls
    try:
        options = cls.Options.model_validate(slot.get("options") or {})
    except ValidationError as exc:
        raise ConfigError(source, _pydantic_problems(exc, f"{kind}.options", list(cls.Options.model_fields)),
                          f"`discover plugins show {cls.name}` lists its options") from None
    make = getattr(cls, "trainer", None)
    if make is None:
        raise PluginError(f"{kind.replace('_', ' ')} '{cls.name}' cannot be trained",
                          "components that can be trained offer a `trainer` classmethod")
    context = Context(device=device, base_dir=path.parent)
    try:
        return make(options, data["training"], context)
    except ConfigError as exc:  # the trainer's own checks of `training`: named after the file (and --set)
        raise ConfigError(source, exc.problems, exc.hint) from None


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@click.option("--set", "settings", multiple=True, metavar="PATH=VALUE",
              help="Override a value of CONFIG (repeatable), validated as the file is: a dotted path inside "
                   "`training` (steps=30, lr=1e-4, data.crop=128) or from a top-level key "
                   "(entropy_model.options.channels=32).")
def train(config: Path, device: str, settings: tuple[str, ...]) -> None:
    """Train a component (the learned codecs) as CONFIG.yaml describes; resumes an interrupted run."""
    import os

    from rich.console import Console

    rank = int(os.environ.get("RANK", "0"))  # under torchrun, rank 0 alone shows progress and prints checkpoints
    overrides = dict(parse_pair(item, "--set") for item in settings)
    trainer = build_trainer(config, device, overrides=overrides)
    bar = progress("steps") if rank == 0 else LineProgress(Console(quiet=True))
    with bar:
        task = bar.add_task("training", total=trainer.total)

        def report(step: int, total: int, metrics: dict[str, float]) -> None:
            text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            bar.update(task, completed=step, total=total, description=f"training  {text}".rstrip())

        written = trainer.run(report)
    for p in written if rank == 0 else ():
        click.echo(str(p))
