"""Data-parallel training: two CPU processes under torchrun (Gloo) stay in sync; rank 0 alone writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image

from discover_core.testing import samples


def test_two_processes_under_torchrun_train_one_model(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(samples.sample_image(160, 128, seed=i)).save(images / f"img{i}.png")
    cfg = {"entropy_model": {"plugin": "hyperprior",
                             "options": {"checkpoint": None, "channels": 16, "latent_channels": 16,
                                         "global_channels": 8}},
           "training": {"output": str(tmp_path / "run"), "steps": 3, "batch_size": 2, "lr": 1e-3,
                        "data": {"folder": str(images), "crop": 64}, "save_every": 100}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    discover = shutil.which("discover", path=str(Path(sys.executable).parent))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           discover, "train", str(tmp_path / "train.yaml")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # rank 0 printed the checkpoint once; the processes ended with identical parameters (checked in the trainer)
    assert done.stdout.split() == [str(tmp_path / "run" / "quality-1.safetensors")]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["quality-1.json", "quality-1.safetensors",
                                                                     "train-state-quality-1.pt"]
