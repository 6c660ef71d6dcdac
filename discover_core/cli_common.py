"""What the ``discover`` subcommands share: consoles, the ``-c`` and ``-o`` rules, outputs that a failed command
removes again, per-item errors and exit codes, progress, and the help layout.

Only :mod:`.cli` imports the subcommand modules (``cli_encode``, ``cli_eval`` ...); they import this module,
never :mod:`.cli`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import click
from rich.console import Console
from rich.markup import escape

from .builtin import BUILTIN_PIPELINES, builtin_pipeline_path
from .errors import ConfigError, DiscoverError, InputError, PluginBug

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
STATE = {"debug": bool(os.environ.get("DISCOVER_DEBUG"))}
STREAM_SUFFIX = ".dscv"
TABLE_ROWS = 100
"""Above this many images, `discover encode` prints a summary instead of a row per image."""


# -- help ----------------------------------------------------------------------------------------------------
class Group(click.Group):
    """A command group whose list of commands shows each one's first sentence whole (wrapped, never cut)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# -- -c: pipeline files --------------------------------------------------------------------------------------
BUILTIN_NAMES = {"default": "classification", **{task: task for task in BUILTIN_PIPELINES}}
"""Names that ``-c`` takes for the built-in offline pipelines (package data of discover_core)."""
PIPELINE_HELP = (f"pipeline file (YAML), or a built-in pipeline: {', '.join(BUILTIN_NAMES)} (default is "
                 "classification; write ./NAME for a file of that name)")


class PipelineFile(click.ParamType):
    """``-c``: a pipeline file, or the name of a built-in pipeline."""

    name = "FILE|" + "|".join(BUILTIN_NAMES)

    def convert(self, value, param, ctx) -> Path:
        if isinstance(value, Path):
            return value
        if value in BUILTIN_NAMES:
            return builtin_pipeline_path(BUILTIN_NAMES[value])
        return Path(value)


PIPELINE = PipelineFile()


# -- -o: where outputs go --------------------------------------------------------------------------------------
OUTPUT_RULE = "An existing folder or a path ending in / is a folder; any other path is a file."


@dataclass(frozen=True)
class Target:
    """An ``-o`` value: a folder (an existing one, or a path written with a trailing /) or one file."""

    path: Path
    folder: bool

    def __str__(self) -> str:
        return str(self.path) + ("/" if self.folder else "")


class OutputPath(click.ParamType):
    """``-o`` of commands that write one file or a folder of them (see :data:`OUTPUT_RULE`)."""

    name = "PATH"

    def convert(self, value, param, ctx) -> Target:
        if isinstance(value, Target):
            return value
        text = os.fspath(value)
        if not text:
            self.fail("give a file or a folder", param, ctx)
        path = Path(text)
        return Target(path, text.endswith(("/", os.sep)) or path.is_dir())


OUTPUT = OutputPath()


def output_files(target: Target, sources: Sequence[Path], names: Sequence[str], suffixes: Sequence[str],
                 what: str) -> list[Path]:
    """Where each source's output goes: ``folder/name``, or the one file ``-o`` names (its suffix checked).

    Two sources that would be written to the same file are refused, as is a file for several sources.
    """
    if not target.folder:
        if len(sources) != 1:
            raise InputError(f"-o {target.path} is one file, and there are {len(sources)} {what}s to write",
                             f"end -o with / to write them to a folder: -o {target.path}/")
        if target.path.suffix.lower() not in suffixes:
            raise InputError(f"-o {target.path}: a {what} file name ends in {' or '.join(suffixes)}",
                             f"write -o {target.path.with_suffix(suffixes[0])}, or -o {target.path}/ for a folder")
        return [target.path]
    targets = [target.path / name for name in names]
    seen: dict[Path, Path] = {}
    for src, dst in zip(sources, targets):
        if dst in seen:
            raise InputError(f"{seen[dst]} and {src} would both be written to {dst}",
                             "write them in two runs with different output folders")
        seen[dst] = src
    return targets


def check_writable(folder: Path) -> None:
    """Refuse, before any work and without creating anything, a folder that cannot be made and written to."""
    folder = Path(folder)
    here = folder
    while not here.exists() and here != here.parent:
        here = here.parent
    if not here.is_dir():
        where = "it is" if here == folder else f"{here} is"
        raise InputError(f"cannot write to {folder}: {where} a file, not a folder",
                         "give a folder (an existing one, or a new path ending in /)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".discover-probe.", dir=here)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write to {folder}: {exc.strerror or exc}",
                         "choose a folder you can write to, on a disk with room") from None


class Outputs:
    """What one command run writes: checked before any work, created only once the inputs are valid, and removed
    again if the command fails before it has finished anything (what it finished is kept: runs resume).

    Use as ``with Outputs() as outputs:`` around the command's work; :meth:`check` each output folder (before the
    inputs are read), :meth:`make` it when writing starts, :meth:`keep` once something worth keeping is written.
    """

    def __init__(self) -> None:
        self._new: list[Path] = []
        self._kept: Callable[[], bool] = lambda: False

    def check(self, folder: Path) -> Path:
        """Refuse an unwritable folder, and remember which part of its path this run will create."""
        folder = Path(folder)
        check_writable(folder)
        top, here = None, folder
        while not here.exists() and here != here.parent:
            top, here = here, here.parent
        if top is not None and top not in self._new:
            self._new.append(top)
        return folder

    def make(self, folder: Path) -> Path:
        """Create a checked folder (and its parents)."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot write to {folder}: {exc.strerror or exc}",
                             "choose a folder you can write to, on a disk with room") from None
        return folder

    def keep(self, when: Callable[[], bool] | None = None) -> None:
        """Keep what was written even if the command fails later (now, or if ``when()`` says so at the end)."""
        self._kept = when or (lambda: True)

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or (exc_type is SystemExit and exc.code in (0, None)):
            return
        try:
            if self._kept():
                return
        except Exception:  # noqa: BLE001 - whether to keep is asked while failing: when in doubt, keep
            return
        for path in reversed(self._new):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink(missing_ok=True)


# -- inputs ------------------------------------------------------------------------------------------------------
def expand_folders(inputs: Sequence[Path]) -> tuple[Path, ...]:
    """Files as given; a folder becomes the image files directly inside it (sorted by name)."""
    from PIL import Image

    suffixes = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    found_all: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in suffixes and f.is_file())
            if not found:
                raise InputError(f"{p} holds no image files", "pass image files, or a folder of them")
            found_all += found
        else:
            found_all.append(p)
    return tuple(found_all)


def read_stream(path: Path):
    """A stream file, checked (a regular file, its magic before the rest is read, a size limit) and parsed."""
    from .files import read_stream_file

    return read_stream_file(path)


def parse_options(pairs: Sequence[str], options_file: Path | None, flag: str = "--option") -> dict:
    """``key=value`` pairs (values read as YAML scalars: 8, 0.5, 1e-4, true, [1, 2]) over an options YAML file."""
    from .config import load_yaml

    options: dict = {}
    if options_file is not None:
        data = load_yaml(options_file)
        if not isinstance(data, dict):
            raise ConfigError(str(options_file), [("", "an options file is a mapping of option names to values")])
        options.update(data)
    for pair in pairs:
        key, value = parse_pair(pair, flag)
        options[key] = value
    return options


def parse_pair(pair: str, flag: str) -> tuple[str, object]:
    """``key=value`` with the value read as a YAML scalar (``1e-4`` is a number too)."""
    import re

    import yaml

    key, sep, text = pair.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{pair!r} is not key=value", param_hint=flag)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        value = float(value)
    return key.strip(), value


# -- progress ------------------------------------------------------------------------------------------------
PROGRESS_SECONDS = 10.0
"""Without a terminal, a line of progress at most this often (and the last one)."""


def progress(unit: str = "images"):
    """The progress display of every command: in a terminal a bar that fits 80 columns (the description is cut
    first, never the count or the ETA) and disappears when done; elsewhere a line every :data:`PROGRESS_SECONDS`."""
    if not console.is_terminal:
        return LineProgress(console, unit)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, \
        TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(_rate(speed, unit), style="progress.data.speed")

    bar = 10 if console.width < 100 else 20
    room = max(8, console.width - bar - 50)  # what the bar, count, rate, elapsed and ETA leave to the description
    return Progress(TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                                        max_width=room)),
                    BarColumn(bar_width=bar), MofNCompleteColumn(), Rate(), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console, transient=True)


def _rate(speed: float | None, unit: str) -> str:
    if not speed:
        return f"- {unit}/s"
    return f"{speed:.2f} {unit}/s" if speed >= 0.1 else f"{1 / speed:.1f} s/{unit.rstrip('s')}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LineProgress:
    """Progress without a terminal (a log, CI, a pipe): a line at most every :data:`PROGRESS_SECONDS`, and a last
    one when something was printed before; never a bar. The part of rich's ``Progress`` the commands use."""

    def __init__(self, console: Console, unit: str = "images"):
        import time

        self.console, self.unit, self.clock = console, unit, time.monotonic
        self.tasks: dict[int, dict] = {}

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        for task in self.tasks.values():
            if task["printed"] and task["printed"] != task["completed"]:
                self._print(task)

    def add_task(self, description: str, total: float | None = None, **fields) -> int:
        now = self.clock()
        self.tasks[len(self.tasks)] = {"description": description, "total": total, "completed": 0, "start": now,
                                       "last": now, "printed": 0}
        return len(self.tasks) - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, completed=self.tasks[task_id]["completed"] + advance)

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None,
               description: str | None = None, advance: float | None = None, **fields) -> None:
        task = self.tasks[task_id]
        for key, value in (("completed", completed), ("total", total), ("description", description)):
            if value is not None:
                task[key] = value
        if advance:
            task["completed"] += advance
        if self.clock() - task["last"] >= PROGRESS_SECONDS:
            self._print(task)

    def _print(self, task: dict) -> None:
        now = self.clock()
        done, total, elapsed = task["completed"], task["total"], now - task["start"]
        speed = done / elapsed if elapsed > 0 and done else None
        left = (total - done) / speed if speed and total else None
        count = f"{done:g}/{total:g}" if total else f"{done:g}"
        self.console.print(f"{task['description']}: {count}, {_clock(elapsed)} elapsed, ETA {_clock(left)}, "
                           f"{_rate(speed, self.unit)}", markup=False, highlight=False, soft_wrap=True)
        task["last"], task["printed"] = now, done or -1


# -- errors per item ------------------------------------------------------------------------------------------
def item_failed(item, message: str, hint: str | None, bug: bool, code: int) -> int:
    """Print one item's failure; the exit code so far (2 if any user error, else 1 if any plugin bug)."""
    tag = "plugin bug" if bug else "error"
    console.print(f"[red]{tag}:[/] {escape(str(item))}: {escape(message)}")
    if hint:
        console.print(f"  hint: {hint}", markup=False)
    return 2 if (code == 2 or not bug) else 1


def run_each(items: Sequence, label: str, work: Callable, unit: str = "images") -> None:
    """Run ``work`` on each item with progress; errors are reported per item and the rest go on.

    Exit code 2 if any item had a user error, 1 if any hit a plugin bug (and no user error).
    """
    code = 0
    with progress(unit) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            try:
                work(item)
            except (DiscoverError, PluginBug) as exc:
                if STATE["debug"]:
                    raise
                code = item_failed(item, exc.message, exc.hint, isinstance(exc, PluginBug), code)
            bar.advance(task)
    if code:
        raise SystemExit(code)
