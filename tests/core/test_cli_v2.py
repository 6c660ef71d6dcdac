"""The CLI's Core v2 parts: migration, warnings, decode-time composer options, plugin bugs (exit 1)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from discover_core import cli

from test_core_cli import _fresh_cli_state, assert_user_error, run  # noqa: F401 - the autouse fixture


@pytest.fixture
def v1_file(tmp_path, make_v1_dict):
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(make_v1_dict(codec="jpeg")))
    return path


def test_validate_says_how_to_upgrade_and_migrate_does_it(capsys, v1_file, tmp_path):
    code, out, err = run(capsys, "validate", v1_file)
    assert code == 0, err
    assert "schema 1: migrated on load" in out and f"discover migrate {v1_file} -o {v1_file}" in out
    new = tmp_path / "new.yaml"
    code, out, err = run(capsys, "migrate", v1_file, "-o", new)
    assert code == 0, err
    data = yaml.safe_load(new.read_text())
    assert data["schema_version"] == 2 and data["grounders"][0]["plugin"] == "boxes"
    assert data["tasks"][0]["name"] == "detection"
    code, out, _ = run(capsys, "validate", new)
    assert code == 0 and "migrated" not in out


def test_validate_prints_cross_slot_warnings(capsys, tmp_path, make_dict):
    data = make_dict()
    data["grounders"] = [{"plugin": "face"}]
    path = tmp_path / "faces.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = run(capsys, "validate", path)
    assert code == 0, err
    assert "warning: tasks[0].label_source: none of the task's 3 labels can be produced" in out


@pytest.fixture
def stream_file(tmp_path, make_pipeline, image, regions):
    path = tmp_path / "s.dscv"
    path.write_bytes(make_pipeline(codec="jpeg").encode(image, regions=regions).extract(
        task="detection").to_bytes())
    return path


def test_decode_time_composer_options(capsys, stream_file, tmp_path):
    code, _, err = run(capsys, "decode", stream_file, "-o", f"{tmp_path / 'a'}/")
    assert code == 0, err
    opts = tmp_path / "opts.yaml"
    opts.write_text("upsample: nearest\nfeather: 2\n")
    code, _, err = run(capsys, "decode", stream_file, "-o", f"{tmp_path / 'b'}/", "--options", opts, "--option", "feather=0")
    assert code == 0, err
    a, b = (np.asarray(Image.open(tmp_path / d / "s.png")) for d in ("a", "b"))
    assert not np.array_equal(a, b)
    code, out, err = run(capsys, "decode", stream_file, "-o", f"{tmp_path / 'c'}/", "--option", "feathr=2")
    assert_user_error(code, out, err, "feathr", "did you mean 'feather'")
    code, out, err = run(capsys, "decode", stream_file, "-o", f"{tmp_path / 'c'}/", "--option", "nonsense")
    assert code == 2 and "key=value" in out + err


def test_a_plugin_bug_exits_1_naming_the_distribution(capsys, stream_file, tmp_path, monkeypatch):
    from discover_roi.paste import Paste

    def broken(self, decoded):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(Paste, "compose", broken)
    code, out, err = run(capsys, "decode", stream_file, "-o", tmp_path)
    text = out + err
    assert code == 1, text
    assert "plugin bug" in text and "composer 'paste' (discover-codec" in text and "ZeroDivisionError" in text
    assert "Traceback" not in text and "report it" in text


def test_encode_a_folder_builds_each_component_once(capsys, tmp_path, make_dict, monkeypatch, synth):
    import json

    from discover_boxes.grounder import BoxesGrounder
    from discover_core import build as builder

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(synth(48 + 8 * i, 40)).save(folder / f"im{i}.png")
    (folder / "notes.txt").write_text("not an image")
    boxes = {f"im{i}.png": [{"box": [2, 2, 20, 20], "label": "cat"}] for i in range(3)}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(make_dict(codec="jpeg")))
    built = []
    real_init = BoxesGrounder.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(BoxesGrounder, "__init__", counting_init)
    builder.clear()
    code, out, err = run(capsys, "encode", folder, "-c", tmp_path / "p.yaml", "-o", f"{tmp_path / 'out'}/")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.dscv")) == ["im0.dscv", "im1.dscv", "im2.dscv"]
    assert built == [1]
    assert "3 image(s)" in out and "bpp over all pixels" in out
    code, out, err = run(capsys, "encode", tmp_path / "out", "-c", tmp_path / "p.yaml", "-o", f"{tmp_path / 'o2'}/")
    assert_user_error(code, out, err, "holds no image files")


@pytest.mark.parametrize("command, expected", [
    ("demo", "it is a file, not a folder"),
    ("encode", "a stream file name ends in .dscv"),
    ("decode", "a picture file name ends in .png or .webp or .jpg or .jpeg"),
])
def test_an_output_that_is_a_file_is_refused_before_any_work(capsys, tmp_path, command, expected, v1_file):
    target = tmp_path / "a-file"
    target.write_text("x")
    args = {"demo": [], "encode": [v1_file, "-c", v1_file], "decode": [v1_file]}[command]
    code, out, err = run(capsys, command, *args, "-o", target)
    assert_user_error(code, out, err, expected)
    assert target.read_text() == "x"


@pytest.mark.parametrize("command", ["evaluate", "sweep"])
def test_evaluation_output_that_is_a_file_is_refused_before_any_work(capsys, tmp_path, command):
    from pathlib import Path

    target = tmp_path / "a-file"
    target.write_text("x")
    ablation = Path(__file__).resolve().parents[2] / "examples" / "ablations" / "rate-sweep.yaml"
    args = ["evaluate"] if command == "evaluate" else ["sweep", ablation]
    code, out, err = run(capsys, *args, "-o", target)
    assert_user_error(code, out, err, "it is a file, not a folder")
