"""``discover train CONFIG.yaml``: train a component that can be trained (``cli.add_command(train)``).

The config names the component and its options as a pipeline slot does, plus a ``training`` mapping that
only the component understands::

    entropy_model: {plugin: hyperprior, options: {checkpoint: null, channels: 64}}
    training: {output: runs/hp, steps: 2000, lambda_rate: 1.0}

Core holds no model code: a trainable component class offers the classmethod
``trainer(options, training: dict, context) -> obj`` whose ``obj.total`` is the number of steps and
``obj.run(report) -> list[Path]`` trains, calling ``report(step, total, metrics: dict[str, float])`` after
every step, and returns the checkpoints it wrote.
"""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from .config import load_yaml
from .errors import ConfigError, PluginError
from .interfaces import KINDS, Context
from .plugins import get_registry


def build_trainer(path: Path, device: str = "cpu", registry=None):
    """The trainer the config file at ``path`` describes (errors: :class:`ConfigError`, :class:`PluginError`)."""
    data = load_yaml(path)
    source = str(path)
    if not isinstance(data, dict):
        raise ConfigError(source, [("", "a training config is a mapping with one component slot and `training`")])
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
        raise ConfigError(source, [(".".join(str(p) for p in (kind, "options", *e["loc"])), e["msg"])
                                   for e in exc.errors()]) from None
    make = getattr(cls, "trainer", None)
    if make is None:
        raise PluginError(f"{kind.replace('_', ' ')} '{cls.name}' cannot be trained",
                          "components that can be trained offer a `trainer` classmethod")
    context = Context(device=device, base_dir=path.parent)
    return make(options, data["training"], context)


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
def train(config: Path, device: str) -> None:
    """Train a component (the learned codecs) as CONFIG.yaml describes; resumes an interrupted run."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    import os

    rank = int(os.environ.get("RANK", "0"))  # under torchrun, rank 0 alone shows progress and prints checkpoints
    console = Console(stderr=True, highlight=False, quiet=rank != 0)
    trainer = build_trainer(config, device)
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"), console=console) as bar:
        task = bar.add_task("train", total=trainer.total, metrics="")
        log_every = max(1, trainer.total // 200)

        def report(step: int, total: int, metrics: dict[str, float]) -> None:
            text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            bar.update(task, completed=step, metrics=text)
            if not console.is_terminal and (step % log_every == 0 or step == total):
                console.print(f"step {step}/{total}  {text}")

        written = trainer.run(report)
    for p in written if rank == 0 else ():
        click.echo(str(p))
