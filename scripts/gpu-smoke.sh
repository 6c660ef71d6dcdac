#!/usr/bin/env bash
# Smoke run of the paper pipeline on a GPU machine (not part of CI): prints one Markdown table to paste into an issue.
#
#   bash scripts/gpu-smoke.sh                        # the whole paper pipeline at real size, random weights, 8 steps
#   bash scripts/gpu-smoke.sh /path/to/sd-2-1-base   # ... and the controlnet composer on your SD 2.x base
#   bash scripts/gpu-smoke.sh BASE --controlnet DIR --cpu-offload --attention-slicing --device cuda:1 --out table.md
#
# Part 1 (scripts/real_size_check.py --device cuda --fp16): Grounding DINO Swin-T, ELIC 192/320 on the SD latent,
# SD 2.1-base + a ControlNet made from its UNet, Faster / Mask R-CNN and ResNet-50, all built from their published
# configs with random weights (nothing to download), one 512x512 photo: time, peak GPU memory and process RSS per
# stage, tensor shapes asserted at every boundary. Part 2, with BASE (a diffusers folder or a hub id whose local
# copy is in ~/.cache/discover/hub/<org>/<name>): the composer on those weights at 8 (machines) and 50 (people)
# steps; without --controlnet an untrained latent ControlNet is made from the base UNet (same cost). --skip-paper
# runs part 2 only; --work DIR keeps part 1's models for the next run; pictures go to --pictures (gpu-smoke/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
base=()
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then base=(--base "$1"); shift; fi
exec python scripts/gpu_smoke.py "${base[@]}" "$@"
