#!/usr/bin/env bash
# Set up (first run only), then run the main job on the built-in offline default pipeline.
# Extra arguments go to `discover demo` (e.g. -o DIR, --quality 50).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec discover demo "$@"
