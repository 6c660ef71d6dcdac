#!/usr/bin/env bash
# Smoke run of the controlnet composer on a GPU machine (not part of CI).
#
#   bash scripts/gpu-smoke.sh                       # the tiny SD-shaped pipeline (built from configs)
#   bash scripts/gpu-smoke.sh /path/to/sd-2-1-base  # ... and the real base at 512x512, 8 steps
#   bash scripts/gpu-smoke.sh BASE --controlnet DIR --cpu-offload --attention-slicing --device cuda:1 --out DIR
#
# BASE is a folder in the diffusers layout (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
# scheduler/) or a hub id (a local copy in ~/.cache/discover/hub/<org>/<name> is used first). Without
# --controlnet an untrained latent ControlNet is made from the base UNet (same cost, no conditioning effect).
# Prints the time per sampling step and the peak memory; writes the pictures to --out (default gpu-smoke/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
base=()
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then base=(--base "$1"); shift; fi
exec python scripts/gpu_smoke.py "${base[@]}" "$@"
