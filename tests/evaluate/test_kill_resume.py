"""A sweep killed with SIGKILL in the middle and resumed: no row lost, none duplicated."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from discover_core.testing.samples import tiny_pipeline_dict

import eval_helpers as h


def _count(db):
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=5)
        return con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_sweep_resumes_without_losing_or_repeating_rows(tmp_path):
    sizes = [(320, 240)] * 6
    folder = h.image_folder(tmp_path / "images", sizes)
    (tmp_path / "boxes.json").write_text('{"img0.png": [{"box": [10, 10, 200, 200], "label": "square"}]}')
    pipeline = tiny_pipeline_dict(tmp_path / "boxes.json")
    pipeline["entropy_model"]["options"].update(codec="avif", speed=6)
    abl = tmp_path / "abl.yaml"
    abl.write_text(yaml.safe_dump({"name": "kill", "pipeline": pipeline,
                                   "grid": {"entropy_model.options.region_quality": [30, 60, 90]}}))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "discover_core.cli_eval", "sweep", str(abl), "--data", f"folder:{folder}",
           "-o", str(run), "--pictures", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = run / "results.sqlite"
    deadline = time.time() + 120
    while _count(db) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _count(db)
    assert 0 < before < 3 * 6 * 2
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    con = sqlite3.connect(db)
    rows = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    keys = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT cell_id, image_id, stream FROM rows)").fetchone()[0]
    assert rows == keys == 3 * 6 * 2
    assert con.execute("SELECT COUNT(*) FROM aggregates").fetchone()[0] == 3 * 2
    assert f"{before // 2} already in the store" in done.stdout.replace("\n", " ")
