"""The ``discover`` command, through ``discover_core.cli.main`` (and one real subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import yaml
from jsonschema import Draft202012Validator
from PIL import Image

from discover_core import cli
from discover_core.bitstream import Stream

PHOTOS = {"astronaut": skimage.data.astronaut, "chelsea": skimage.data.chelsea}
BOXES = {
    "astronaut.png": [{"box": [170, 20, 330, 220], "label": "person", "score": 0.9},
                      {"box": [380, 90, 470, 480], "label": "rocket", "score": 0.8}],
    "chelsea.png": [{"box": [100, 20, 330, 290], "label": "cat"}],
}


@pytest.fixture(autouse=True)
def _fresh_cli_state(monkeypatch):
    """A wide console (no wrapped tables) and --debug off, whatever ran before."""
    monkeypatch.setenv("COLUMNS", "250")
    for console in (cli.out, cli.console):  # rich freezes COLUMNS when the console is made
        monkeypatch.setattr(console, "_width", 250)
    monkeypatch.delenv("DISCOVER_DEBUG", raising=False)
    monkeypatch.setitem(cli._state, "debug", False)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Real photos as PNG files, a boxes JSON for them and a pipeline file."""
    root = tmp_path_factory.mktemp("cli")
    for name, load in PHOTOS.items():
        Image.fromarray(load()).save(root / f"{name}.png")
    (root / "boxes.json").write_text(json.dumps(BOXES))
    pipeline = {
        "schema_version": 1,
        "name": "cli-test",
        "task": {"name": "detection", "description": "people, cats and rockets"},
        "label_source": {"plugin": "static", "options": {"labels": ["person", "cat", "rocket"]}},
        "grounder": {"plugin": "boxes", "options": {"file": "boxes.json"}},
        "entropy_model": {"plugin": "roi-image", "options": {"codec": "jpeg", "region_quality": 85}},
        "composer": {"plugin": "paste", "options": {}},
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return root


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_temp_files(*folders: Path) -> None:
    for folder in folders:
        left = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
        assert not left, left


def assert_user_error(code: int, out: str, err: str, *expected: str) -> None:
    """Exit code 2, a short message naming the problem, and no traceback."""
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    for e in expected:
        assert e in text, (e, text)
    assert len(text.strip().splitlines()) <= 12, text


# -- help, plugins ---------------------------------------------------------------------------
def test_help_in_a_real_subprocess():
    exe = shutil.which("discover", path=str(Path(sys.executable).parent))
    assert exe, "the `discover` console script is not installed next to this Python"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("plugins", "validate", "schema", "encode", "decode", "extract", "info"):
        assert command in proc.stdout
    assert "Traceback" not in proc.stderr


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and "discover" in out and "0." in out


def test_plugins_lists_components(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    for name in ("static", "boxes", "roi-image", "paste"):
        assert name in out
    assert "discover-codec" in out


def test_plugins_json(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"components", "failures"}
    rows = {(r["kind"], r["name"]): r for r in data["components"]}
    roi = rows[("entropy_model", "roi-image")]
    assert roi["distribution"] == "discover-codec" and roi["plugin"] == "roi" and roi["available"] is True
    assert roi["summary"]
    assert ("composer", "paste") in rows and ("grounder", "boxes") in rows
    assert isinstance(data["failures"], list)
    for f in data["failures"]:
        assert {"plugin", "distribution", "version", "error"} <= set(f)


def test_plugins_kind(capsys):
    code, out, _ = run(capsys, "plugins", "--kind", "grounder", "--json")
    assert code == 0
    kinds = {r["kind"] for r in json.loads(out)["components"]}
    assert kinds == {"grounder"}
    code, out, _ = run(capsys, "plugins", "--kind", "grounder")
    assert code == 0 and "boxes" in out and "roi-image" not in out and "paste" not in out


def test_plugins_bad_kind(capsys):
    code, out, err = run(capsys, "plugins", "--kind", "nonsense")
    assert_user_error(code, out, err, "nonsense")


def test_plugins_show(capsys):
    code, out, _ = run(capsys, "plugins", "show", "roi-image")
    assert code == 0
    assert "roi-image" in out and "entropy model" in out
    text = " ".join(out.split())  # one line per option and its description, wrapped to the console
    assert "codec one of avif, webp, jpeg; default 'avif' still-image codec of every chunk" in text
    assert "region_quality int, 1 to 100; default 70 codec quality of the task regions" in text
    assert "background_scale float, > 0.0 and ≤ 1.0; default 0.125" in text
    assert "background_quality int or null, 1 to 100; default 50" in text
    assert "code_rest bool; default True" in text and "Literal" not in text


def test_plugins_show_required_option(capsys):
    code, out, _ = run(capsys, "plugins", "show", "boxes")
    assert code == 0
    assert "file str; required" in " ".join(out.split())


@pytest.mark.parametrize("name, expected", [
    ("nosuch", ["no component named 'nosuch'", "roi-image", "paste"]),
    ("roi-imag", ["did you mean 'roi-image'?"]),
])
def test_plugins_show_unknown(capsys, name, expected):
    code, out, err = run(capsys, "plugins", "show", name)
    assert_user_error(code, out, err, *expected)


# -- validate, schema ------------------------------------------------------------------------
def test_validate_good(capsys, work):
    code, out, err = run(capsys, "validate", work / "pipeline.yaml")
    assert code == 0, err
    assert "ok" in out


def test_validate_bad(capsys, work, tmp_path):
    data = yaml.safe_load((work / "pipeline.yaml").read_text())
    data["entropy_model"]["options"]["region_quality"] = 500
    data["composer"]["plugin"] = "pastey"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    code, out, err = run(capsys, "validate", work / "pipeline.yaml", bad)
    assert_user_error(code, out, err, "entropy_model.options.region_quality", "composer.plugin",
                      "did you mean 'paste'?", "2 problem(s)")
    assert "pipeline.yaml: ok" in out


def test_validate_invalid_yaml(capsys, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("task: [unclosed\n")
    code, out, err = run(capsys, "validate", bad)
    assert_user_error(code, out, err, "not valid YAML", "line ")


def test_schema(capsys, tmp_path, work):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    Draft202012Validator.check_schema(schema)
    from discover_core.config import migrate_v1

    v1 = yaml.safe_load((work / "pipeline.yaml").read_text())  # schema 1: the schema covers its migration
    assert not list(Draft202012Validator(schema).iter_errors(migrate_v1(v1)))
    assert list(Draft202012Validator(schema).iter_errors(v1))
    code, _, _ = run(capsys, "schema", "-o", tmp_path / "schema.json")
    assert code == 0
    assert json.loads((tmp_path / "schema.json").read_text()) == schema
    no_temp_files(tmp_path)


# -- encode -> info -> extract -> decode -----------------------------------------------------
@pytest.fixture(scope="module")
def streams(work) -> Path:
    out = work / "streams"
    code = cli.main(["encode", str(work / "astronaut.png"), str(work / "chelsea.png"),
                     "-c", str(work / "pipeline.yaml"), "-o", f"{out}/"])
    assert code == 0
    return out


def test_encode_writes_streams(streams, work):
    assert sorted(p.name for p in streams.iterdir()) == [".discover-encode.json", "astronaut.dscv", "chelsea.dscv"]
    astronaut = Stream.from_bytes((streams / "astronaut.dscv").read_bytes())
    assert astronaut.size == (512, 512)
    assert astronaut.header.labels == ["person", "rocket"]
    assert astronaut.header.tasks == ["detection"]
    assert [c.name for c in astronaut.chunks] == ["background", "region-0", "region-1", "rest"]
    chelsea = Stream.from_bytes((streams / "chelsea.dscv").read_bytes())
    assert chelsea.size == (451, 300) and chelsea.header.labels == ["cat"]
    no_temp_files(work)


def test_encode_output_table(capsys, work, tmp_path):
    code, out, err = run(capsys, "encode", work / "chelsea.png", "-c", work / "pipeline.yaml", "-o", tmp_path)
    assert code == 0, err
    assert "chelsea.dscv" in out and "cat" in out
    no_temp_files(tmp_path)


def test_info(capsys, streams):
    code, out, _ = run(capsys, "info", streams / "astronaut.dscv")
    assert code == 0
    assert "512x512" in out and "roi-image" in out and "paste" in out and "3/3 content chunks" in out
    for name in ("background", "region-0", "region-1", "rest", "person", "rocket"):
        assert name in out
    code, out, _ = run(capsys, "info", "--json", streams / "astronaut.dscv")
    assert code == 0
    header = json.loads(out)
    assert header == Stream.from_bytes((streams / "astronaut.dscv").read_bytes()).header.model_dump(mode="json")


def test_extract_and_decode(capsys, streams, tmp_path):
    full = streams / "astronaut.dscv"
    code, out, err = run(capsys, "extract", full, "--task", "detection", "-o", tmp_path / "task.dscv")
    assert code == 0, err
    assert "2 of 3 content chunks" in out
    part = Stream.from_bytes((tmp_path / "task.dscv").read_bytes())
    assert [c.name for c in part.chunks] == ["background", "region-0", "region-1"]

    code, out, err = run(capsys, "extract", full, "--labels", "rocket", "-o", tmp_path / "rocket.dscv")
    assert code == 0, err
    rocket = Stream.from_bytes((tmp_path / "rocket.dscv").read_bytes())
    assert [c.labels for c in rocket.chunks if c.kind == "content"] == [("rocket",)]
    full_stream = Stream.from_bytes(full.read_bytes())
    assert rocket.chunks[1].payload == full_stream.chunks[2].payload  # copied, not re-encoded

    pictures = tmp_path / "pictures"
    code, out, err = run(capsys, "decode", full, tmp_path / "task.dscv", tmp_path / "rocket.dscv", "-o", f"{pictures}/")
    assert code == 0, err
    names = sorted(p.name for p in pictures.iterdir())
    assert names == ["astronaut.png", "rocket.png", "task.png"]
    photo = skimage.data.astronaut().astype(float)
    errors = {}
    for name in names:
        with Image.open(pictures / name) as img:
            assert img.size == (512, 512) and img.mode == "RGB"
            errors[name] = float(np.mean((np.asarray(img, dtype=float) - photo) ** 2))
    assert errors["astronaut.png"] < errors["task.png"] < errors["rocket.png"], errors
    no_temp_files(tmp_path, streams)


def test_decode_formats_and_composer(capsys, streams, tmp_path):
    code, _, err = run(capsys, "decode", streams / "chelsea.dscv", "-o", tmp_path, "--format", "webp",
                       "--composer", "paste")
    assert code == 0, err
    with Image.open(tmp_path / "chelsea.webp") as img:
        assert img.size == (451, 300)
    no_temp_files(tmp_path)


def test_extract_needs_task_or_labels(capsys, streams, tmp_path):
    code, out, err = run(capsys, "extract", streams / "chelsea.dscv", "-o", tmp_path / "x.dscv")
    assert_user_error(code, out, err, "--task", "--labels")
    assert not (tmp_path / "x.dscv").exists()


def test_extract_empty_labels(capsys, streams, tmp_path):
    code, out, err = run(capsys, "extract", streams / "chelsea.dscv", "--labels", ",", "-o", tmp_path / "x.dscv")
    assert_user_error(code, out, err, "empty list of labels", "cat")
    assert not (tmp_path / "x.dscv").exists()


def test_decode_refuses_two_inputs_with_one_output_name(capsys, streams, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(streams / "chelsea.dscv", other / "chelsea.dscv")
    code, out, err = run(capsys, "decode", streams / "chelsea.dscv", other / "chelsea.dscv", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "would both be written to")
    assert not (tmp_path / "o").exists()


def test_extract_unknown_task(capsys, streams, tmp_path):
    code, out, err = run(capsys, "extract", streams / "chelsea.dscv", "--task", "segmentation",
                         "-o", tmp_path / "x.dscv")
    assert_user_error(code, out, err, "segmentation", "detection")
    assert not (tmp_path / "x.dscv").exists()


# -- user errors: exit 2, one paragraph, no traceback ----------------------------------------
@pytest.fixture
def damaged(streams, tmp_path) -> dict[str, Path]:
    data = (streams / "chelsea.dscv").read_bytes()
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0x55
    files = {"corrupt": bytes(corrupt), "truncated": data[: len(data) - 100]}
    out = {}
    for name, blob in files.items():
        out[name] = tmp_path / f"{name}.dscv"
        out[name].write_bytes(blob)
    return out


@pytest.mark.parametrize("command", ["info", "decode", "extract"])
def test_corrupt_stream(capsys, damaged, tmp_path, command):
    args = {"info": [], "decode": ["-o", f"{tmp_path / 'o'}/"], "extract": ["--task", "detection", "-o", tmp_path / "o.dscv"]}
    code, out, err = run(capsys, command, damaged["corrupt"], *args[command])
    assert_user_error(code, out, err, "corrupt.dscv is corrupt", "fails its checksum")
    code, out, err = run(capsys, command, damaged["truncated"], *args[command])
    assert_user_error(code, out, err, "truncated.dscv is truncated")
    assert not (tmp_path / "o.dscv").exists()
    no_temp_files(tmp_path)


def test_png_given_as_a_stream(capsys, work, tmp_path):
    code, out, err = run(capsys, "decode", work / "chelsea.png", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "is not a discover stream", "PNG")
    code, out, err = run(capsys, "info", work / "chelsea.png")
    assert_user_error(code, out, err, "is not a discover stream", "PNG")


def test_missing_stream(capsys, tmp_path):
    code, out, err = run(capsys, "info", tmp_path / "nope.dscv")
    assert_user_error(code, out, err, "stream not found")


def test_missing_image(capsys, work, tmp_path):
    code, out, err = run(capsys, "encode", tmp_path / "nope.png", "-c", work / "pipeline.yaml", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "image not found", "nope.png")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_one_bad_image_does_not_stop_the_others(capsys, work, tmp_path):
    code, out, err = run(capsys, "encode", tmp_path / "nope.png", work / "chelsea.png",
                         "-c", work / "pipeline.yaml", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "image not found")
    assert (tmp_path / "o" / "chelsea.dscv").exists()


def test_bad_pipeline_file(capsys, work, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ntask: {name: x}\n")
    code, out, err = run(capsys, "encode", work / "chelsea.png", "-c", bad, "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "bad.yaml", "label_source", "grounder", "entropy_model", "composer")
    code, out, err = run(capsys, "encode", work / "chelsea.png", "-c", tmp_path / "missing.yaml", "-o", tmp_path)
    assert_user_error(code, out, err, "missing.yaml", "file not found")


def test_unknown_composer(capsys, work, streams, tmp_path):
    code, out, err = run(capsys, "decode", streams / "chelsea.dscv", "--composer", "pastey", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "unknown composer 'pastey'", "did you mean 'paste'?")
    data = yaml.safe_load((work / "pipeline.yaml").read_text())
    data["composer"]["plugin"] = "nosuch-composer"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    code, out, err = run(capsys, "encode", work / "chelsea.png", "-c", tmp_path / "p.yaml", "-o", f"{tmp_path / 'o'}/")
    assert_user_error(code, out, err, "composer.plugin", "unknown composer 'nosuch-composer'")


def test_image_missing_from_box_file(capsys, work, tmp_path):
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "coffee.png")
    code, out, err = run(capsys, "encode", tmp_path / "coffee.png", "-c", work / "pipeline.yaml", "-o", tmp_path)
    assert_user_error(code, out, err, "lists no image 'coffee.png'")


def test_debug_shows_a_traceback(capsys, damaged):
    code, out, err = run(capsys, "--debug", "info", damaged["corrupt"])
    assert code == 2
    assert "Traceback" in err and "StreamError" in err


def test_debug_from_environment(capsys, damaged, monkeypatch):
    monkeypatch.setenv("DISCOVER_DEBUG", "1")
    monkeypatch.setitem(cli._state, "debug", True)
    code, out, err = run(capsys, "info", damaged["truncated"])
    assert code == 2 and "Traceback" in err


def test_failed_output_write_leaves_old_file_and_no_temp(capsys, streams, tmp_path, monkeypatch):
    target = tmp_path / "part.dscv"
    target.write_bytes(b"previous")
    import discover_core.images as images_mod

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images_mod.os, "fsync", broken_fsync)
    code, out, err = run(capsys, "extract", streams / "chelsea.dscv", "--task", "detection", "-o", target)
    assert_user_error(code, out, err, "cannot write", "part.dscv", "No space left on device")
    assert target.read_bytes() == b"previous"
    no_temp_files(tmp_path)


def test_unwritable_output_folder(capsys, streams, tmp_path):
    (tmp_path / "blocker").write_bytes(b"")
    code, out, err = run(capsys, "decode", streams / "chelsea.dscv", "-o", f"{tmp_path / 'blocker' / 'pictures'}/")
    assert_user_error(code, out, err, "cannot write")


def test_debug_does_not_stick_between_calls(capsys, damaged):
    run(capsys, "--debug", "info", damaged["truncated"])
    code, out, err = run(capsys, "info", damaged["truncated"])
    assert_user_error(code, out, err, "truncated")
