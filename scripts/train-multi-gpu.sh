#!/usr/bin/env bash
# Data-parallel training on every GPU of this machine (not part of CI; CI runs two CPU processes with Gloo).
#
#   bash scripts/train-multi-gpu.sh                                   # a tiny hyperprior, 50 steps, NCCL
#   bash scripts/train-multi-gpu.sh examples/training/discover-sd-latent-stage1.yaml   # a real config
#
# Launches `discover train CONFIG --device cuda` under torchrun with one process per GPU; rank 0 prints the
# checkpoints it wrote. The trainer checks at the end that every process holds the same parameters.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
gpus="$(python -c 'import torch; print(torch.cuda.device_count())')"
[ "$gpus" -ge 1 ] || { echo "no CUDA GPU here" >&2; exit 2; }
config="${1:-}"
if [ -z "$config" ]; then
  work="$(mktemp -d)"
  python - "$work" <<'PY'
import sys, yaml
from pathlib import Path
from PIL import Image
from discover_core.testing.samples import sample_image
work = Path(sys.argv[1]); (work / "images").mkdir()
for i in range(8):
    Image.fromarray(sample_image(320, 256, seed=i)).save(work / "images" / f"img{i}.png")
cfg = {"entropy_model": {"plugin": "hyperprior", "options": {"checkpoint": None, "channels": 64,
                                                             "latent_channels": 96, "global_channels": 32}},
       "training": {"output": str(work / "run"), "steps": 50, "batch_size": 8, "lr": 2e-4,
                    "data": {"folder": str(work / "images"), "crop": 128}, "save_every": 25}}
(work / "train.yaml").write_text(yaml.safe_dump(cfg))
PY
  config="$work/train.yaml"
fi
exec python -m torch.distributed.run --standalone --nproc_per_node "$gpus" "$(command -v discover)" train "$config" \
  --device cuda
