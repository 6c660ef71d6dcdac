"""``--engine ray`` from the command line: a killed run resumes, folder encode writes the local engine's bytes,
bad options and unreachable clusters are one clear error."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from discover_core.cli import main

import ray_helpers as h

pytestmark = pytest.mark.xdist_group("ray")


def _rows(db):
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _kill_session(sid: int) -> None:
    """SIGKILL every process of a session: the driver, its local Ray instance and the actors (a lost node)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.getsid(int(pid)) == sid:
                    os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def test_a_killed_ray_run_resumes_with_the_local_engines_rows(tmp_path):
    folder = h.images(tmp_path / "img", 10, size=(320, 240))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(h.pipeline(tmp_path, heads=False)))
    cmd = [sys.executable, "-c", "import sys; from discover_core.cli import main; sys.exit(main())", "evaluate",
           "-c", str(tmp_path / "p.yaml"),
           "--data", f"folder:{folder}", "--pictures", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "ray"
    proc = subprocess.Popen(cmd + ["-o", str(run), "--engine", "ray", "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while _rows(run / "results.sqlite") < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    _kill_session(proc.pid)
    proc.wait()
    before = _rows(run / "results.sqlite")
    assert 0 < before < 20
    done = subprocess.run(cmd + ["-o", str(run), "--engine", "ray", "--workers", "2"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{before // 2} already in the store" in done.stdout.replace("\n", " ")
    local = subprocess.run(cmd + ["-o", str(tmp_path / "local")], env=env, capture_output=True, text=True,
                           timeout=300)
    assert local.returncode == 0, local.stderr
    from discover_core.evaluate import Store

    ray_store, local_store = Store(run), Store(tmp_path / "local")
    assert ray_store.count_rows() == (20, 20)
    assert h.without_timings(ray_store.rows()) == h.without_timings(local_store.rows())


def test_folder_encode_on_ray_writes_the_local_bytes_and_resumes(ray_local, tmp_path, capsys):
    folder = h.images(tmp_path / "img", 4)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(h.pipeline(tmp_path, heads=False)))
    p = str(tmp_path / "p.yaml")
    assert main(["encode", str(folder), "-c", p, "-o", str(tmp_path / "local") + "/"]) == 0
    assert main(["encode", str(folder), "-c", p, "-o", str(tmp_path / "ray") + "/", "--engine", "ray",
                 "--workers", "2"]) == 0
    streams = sorted((tmp_path / "local").glob("*.dscv"))
    assert len(streams) == 4
    assert all(s.read_bytes() == (tmp_path / "ray" / s.name).read_bytes() for s in streams)
    (tmp_path / "ray" / "img2.dscv").unlink()
    capsys.readouterr()
    assert main(["encode", str(folder), "-c", p, "-o", str(tmp_path / "ray"), "--engine", "ray",
                 "--resume"]) == 0
    text = capsys.readouterr().out
    assert "3 stream(s) already in" in text and "1 image(s) ->" in text
    assert (tmp_path / "ray" / "img2.dscv").read_bytes() == (tmp_path / "local" / "img2.dscv").read_bytes()
    other = h.pipeline(tmp_path, heads=False)
    other["entropy_model"]["options"]["background_scale"] = 0.5
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    assert main(["encode", str(folder), "-c", str(tmp_path / "other.yaml"), "-o", str(tmp_path / "ray"),
                 "--resume"]) == 2
    assert "written by another pipeline" in capsys.readouterr().err


def test_a_bad_image_on_ray_is_reported_and_the_rest_are_written(ray_local, tmp_path, capsys):
    folder = h.images(tmp_path / "img", 2)
    (folder / "img5.png").write_bytes(b"garbage")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(h.pipeline(tmp_path, heads=False)))
    code = main(["encode", str(folder), "-c", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "out") + "/",
                 "--engine", "ray", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "img5.png" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.dscv")) == ["img0.dscv", "img1.dscv"]


@pytest.mark.parametrize("args, message", [
    (["--workers", "2"], "--workers only apply with --engine ray"),
    (["--engine", "ray", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
    (["--engine", "ray", "--address", "nonsense"], "is not HOST:PORT"),
])
def test_engine_option_errors_are_one_clear_message(tmp_path, capsys, args, message):
    folder = h.images(tmp_path / "img", 1)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(h.pipeline(tmp_path, heads=False)))
    code = main(["evaluate", "-c", str(tmp_path / "p.yaml"), "--data", f"folder:{folder}", "-o",
                 str(tmp_path / "run")] + args)
    captured = capsys.readouterr()
    assert code == 2 and message in captured.err + captured.out and "Traceback" not in captured.err
