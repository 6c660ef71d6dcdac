"""Rules every ``discover`` command keeps: built-in pipelines by name, one ``-o`` rule, nothing left behind by a
failed command, user errors exit 2, progress and help that fit the terminal, one decode path."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from discover_core import cli, cli_common
from discover_core.bitstream import Stream

from test_core_cli import _fresh_cli_state, assert_user_error, run, streams, work  # noqa: F401 - fixtures


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- -c: built-in pipelines ---------------------------------------------------------------------------------------
def test_encode_without_c_uses_the_default_pipeline_and_c_names_builtins(capsys, tmp_path, work, monkeypatch):
    import discover_core.pipeline as pipeline_mod
    from discover_core.builtin import builtin_pipeline_path
    from discover_core.errors import InputError

    asked = []

    def load_pipeline(path, **kwargs):  # which file encode loads; stop before any model is built
        asked.append(path)
        raise InputError("stop here")

    monkeypatch.setattr(pipeline_mod, "load_pipeline", load_pipeline)
    for config in ([], ["-c", "default"], ["-c", "detection"]):
        code, out, err = run(capsys, "encode", work / "chelsea.png", *config, "-o", f"{tmp_path / 's'}/")
        assert_user_error(code, out, err, "stop here")
    assert asked == [builtin_pipeline_path("classification")] * 2 + [builtin_pipeline_path("detection")]
    code, out, err = run(capsys, "validate", "default", "detection")
    assert code == 0, err
    assert "default.yaml: ok" in out and "detection.yaml: ok" in out
    assert not (tmp_path / "s").exists()


# -- -o: one rule --------------------------------------------------------------------------------------------------
def test_output_rule_folder_or_file_with_its_suffix(capsys, streams, tmp_path):
    s = streams / "chelsea.dscv"
    code, _, err = run(capsys, "extract", s, "--task", "detection", "-o", f"{tmp_path / 'newdir'}/")
    assert code == 0, err
    assert Stream.from_bytes((tmp_path / "newdir" / "chelsea.dscv").read_bytes()).header.tasks == ["detection"]
    code, _, err = run(capsys, "extract", s, "--task", "detection", "-o", tmp_path / "newdir")  # existing folder
    assert code == 0 and files_under(tmp_path / "newdir") == ["chelsea.dscv"], err
    code, _, err = run(capsys, "decode", s, "-o", tmp_path / "out.png")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as img:
        assert img.format == "PNG" and img.size == (451, 300)
    code, out, err = run(capsys, "extract", s, "--task", "detection", "-o", tmp_path / "x.png")
    assert_user_error(code, out, err, "a stream file name ends in .dscv", "x.dscv")
    code, out, err = run(capsys, "decode", s, streams / "astronaut.dscv", "-o", tmp_path / "two.png")
    assert_user_error(code, out, err, "is one file, and there are 2 pictures", "two.png/")
    code, out, err = run(capsys, "decode", s, "-o", tmp_path / "p.webp", "--format", "png")
    assert_user_error(code, out, err, "--format")
    code, out, err = run(capsys, "extract", s, "--task", "detection", "-o", streams)
    assert_user_error(code, out, err, "would overwrite the stream")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newdir", "out.png"]


@pytest.mark.parametrize("command, rule", [
    ("encode", "path ending in / is a folder"), ("decode", "path ending in / is a folder"),
    ("extract", "path ending in / is a folder"), ("migrate", "path ending in / is a folder"),
    ("schema", "path ending in / is a folder"), ("labels freeze", "path ending in / is a folder"),
    ("evaluate", "always a folder"), ("sweep", "always a folder"), ("report", "always a folder"),
    ("demo", "always a folder"),
])
def test_every_help_states_the_output_rule(capsys, command, rule):
    code, out, _ = run(capsys, *command.split(), "--help")
    assert code == 0 and rule in " ".join(out.split())


# -- failures leave nothing behind; user errors exit 2 ------------------------------------------------------------------
def test_a_failed_command_removes_what_it_created(capsys, tmp_path, work, streams):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed\n")
    code, out, err = run(capsys, "encode", work / "chelsea.png", "-c", bad, "-o", f"{tmp_path / 'a' / 'b'}/")
    assert_user_error(code, out, err, "not valid YAML")
    code, out, err = run(capsys, "encode", tmp_path / "nope.png", "-c", work / "pipeline.yaml",
                         "-o", f"{tmp_path / 'c'}/")
    assert_user_error(code, out, err, "image not found")
    code, out, err = run(capsys, "evaluate", "--data", "folder:nowhere", "-o", tmp_path / "run")
    assert code == 2, out + err
    code, out, err = run(capsys, "decode", work / "chelsea.png", "-o", f"{tmp_path / 'd'}/")
    assert_user_error(code, out, err, "is not a discover stream")
    code, out, err = run(capsys, "report", tmp_path, "-o", tmp_path / "report")
    assert_user_error(code, out, err)
    assert files_under(tmp_path) == ["bad.yaml"]


def test_os_errors_a_user_can_fix_exit_2(capsys, tmp_path, monkeypatch):
    import discover_core.evaluate.report as report_mod

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "r" / "plots"))

    monkeypatch.setattr(report_mod, "write_report", denied)
    code, out, err = run(capsys, "report", tmp_path, "-o", tmp_path / "r")
    assert_user_error(code, out, err, "Permission denied", "plots")


def test_a_read_only_output_folder_is_a_user_error(capsys, tmp_path):
    target = "/sys/discover-report"
    try:
        with open("/sys/.discover-probe", "w"):
            pytest.skip("/sys is writable here")
    except OSError:
        pass
    code, out, err = run(capsys, "report", tmp_path, "-o", target)
    assert_user_error(code, out, err, "cannot write to /sys/discover-report")


def test_an_image_above_the_pixel_limit_gets_the_projects_message(capsys, tmp_path, work):
    """A valid 20000x20000 PNG (1-bit, 48 KB) is refused from its header, with discover's message, not Pillow's."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    side = 20000
    packer = zlib.compressobj(1)
    row = b"\0" + bytes(side // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0,
                                                                                         0, 0))
                                       + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    code, out, err = run(capsys, "encode", tmp_path / "big.png", "-c", work / "pipeline.yaml", "-o", f"{tmp_path}/")
    assert_user_error(code, out, err, "is 20000x20000, larger than discover accepts", "split or downscale")
    assert "Pillow" not in out + err


# -- train --set -----------------------------------------------------------------------------------------------------
@pytest.fixture
def train_config(tmp_path):
    import yaml

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"entropy_model": {"plugin": "hyperprior", "options": {"checkpoint": None}},
                                    "training": {"output": "run", "steps": 2000, "data": {"crop": 256}}}))
    return path


def test_train_set_overrides_by_dotted_path(capsys, train_config):
    from discover_core.cli_common import parse_pair
    from discover_core.cli_train import build_trainer

    sets = ["steps=30", "lr=1e-4", "data.crop=128", "entropy_model.options.channels=32"]
    trainer = build_trainer(train_config, overrides=dict(parse_pair(s, "--set") for s in sets))
    assert (trainer.cfg.steps, trainer.cfg.lr, trainer.cfg.data.crop) == (30, 1e-4, 128)
    assert trainer.options.channels == 32 and trainer.total == 30
    code, out, err = run(capsys, "train", train_config, "--set", "stepz=3")
    assert_user_error(code, out, err, "training.stepz", "did you mean 'steps'")
    code, out, err = run(capsys, "train", train_config, "--set", "data.crop=100")
    assert_user_error(code, out, err, "training.data.crop", "multiple of 64", "--set data.crop=100")


# -- progress ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 100])
def test_the_progress_bar_fits_the_terminal_with_count_and_eta(monkeypatch, width):
    from rich.console import Console

    monkeypatch.setattr(cli_common, "console", Console(width=width, force_terminal=True, color_system=None))
    bar = cli_common.progress("images")
    task = bar.add_task("offline-default · q80 · a-rather-long-photo-name-from-the-dataset.png", total=12345)
    bar.update(task, completed=1234)
    screen = Console(file=io.StringIO(), width=width, color_system=None)
    screen.print(bar.make_tasks_table(bar.tasks))
    lines = screen.file.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0].rstrip()) <= width
    assert "1234/12345" in lines[0] and lines[0].rstrip().endswith("ETA -:--:--")


def test_without_a_terminal_progress_is_a_line_every_few_seconds(capsys, streams, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_common, "PROGRESS_SECONDS", 0.0)
    code, out, err = run(capsys, "decode", streams / "chelsea.dscv", streams / "astronaut.dscv",
                         "-o", f"{tmp_path}/")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("decoding: ")]
    assert [line.split(",")[0] for line in lines] == ["decoding: 1/2", "decoding: 2/2"], err
    assert "ETA" in lines[0] and "━" not in err


# -- help and listings at 80 (and 160) columns -------------------------------------------------------------------
@pytest.mark.parametrize("columns", [80, 160])
def test_help_summaries_are_whole(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    for group in (["--help"], ["plugins", "--help"], ["labels", "--help"], ["models", "--help"]):
        code, out, _ = run(capsys, *group)
        assert code == 0 and "..." not in out.partition("Commands:")[2], out
    text = " ".join(run(capsys, "--help")[1].split())
    for name, command in cli.cli.commands.items():
        first = command.get_short_help_str(limit=1 << 16)
        assert f"{name} {first}" in text, name


def test_plugins_reads_at_80_columns(capsys, monkeypatch):
    monkeypatch.setattr(cli_common.out, "_width", 80)
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80 and len(lines) < 100
    from discover_core.plugins import get_registry

    text = " ".join(out.split())
    for r in get_registry().all():
        assert f"{r.name} {r.cls.summary()}" in text


# -- one decode path, no stray warnings ------------------------------------------------------------------------------------
def test_pipeline_module_and_cli_decode_the_same(capsys, work, streams, tmp_path):
    import discover_core as dc

    stream = Stream.from_bytes((streams / "astronaut.dscv").read_bytes()).extract(task="detection")
    (tmp_path / "part.dscv").write_bytes(stream.to_bytes())
    pipeline = dc.load_pipeline(work / "pipeline.yaml")
    by_pipeline, by_function = pipeline.decode(stream), dc.decode(stream.to_bytes())
    code, _, err = run(capsys, "decode", tmp_path / "part.dscv", "-o", tmp_path / "part.png")
    assert code == 0, err
    assert np.array_equal(by_pipeline, by_function)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "part.png")), by_function)


def test_metrics_of_read_only_arrays_warn_nothing():
    import warnings

    import torch

    from discover_core import metrics

    image = np.full((64, 64, 3), 7, np.uint8)
    image.setflags(write=False)  # as load_image and Pillow return them
    torch.set_warn_always(True)  # torch warns once per process otherwise
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            metrics.quality_report(image, image, [(0, 0, 8, 8)])
    finally:
        torch.set_warn_always(False)
    assert not [w for w in caught if "not writable" in str(w.message)]


def test_importing_the_compressai_plugins_prints_no_dependency_warning():
    """compressai imports torch_geometric, whose import calls the deprecated torch.jit.script: not shown."""
    import subprocess
    import sys

    for module in ("discover_learned.nets", "discover_learned.model"):
        done = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", f"import {module}"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "FutureWarning" not in done.stderr, done.stderr[-2000:]
