"""On a machine with a CUDA GPU: the default pipeline on two demo photos, local engine against one GPU actor.

    python scripts/ray_gpu_check.py

Both runs use --device cuda; the script checks that the actor got a GPU and that every row (bytes, chunks,
quality, head predictions) is the same. Exit 0 when they agree.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from discover_core.evaluate import Store

if not torch.cuda.is_available():
    sys.exit("no CUDA GPU here: this check needs one")
root = Path(tempfile.mkdtemp(prefix="ray-gpu-"))
base = [sys.executable, "-c", "import sys; from discover_core.cli import main; sys.exit(main())", "evaluate",
        "--data", "demo,limit=2", "--device", "cuda", "--pictures", "0"]
for name, extra in (("local", []), ("ray", ["--engine", "ray", "--workers", "1", "--gpus-per-worker", "1"])):
    subprocess.run(base + ["-o", str(root / name)] + extra, check=True)
rows = {n: [{k: v for k, v in r.items() if k != "timings"} for r in Store(root / n).rows()] for n in ("local", "ray")}
same = rows["local"] == rows["ray"] and len(rows["local"]) > 0
print(f"{len(rows['ray'])} rows; identical to the local engine's: {same}  (runs in {root})")
sys.exit(0 if same else 1)
