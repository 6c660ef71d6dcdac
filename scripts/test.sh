#!/usr/bin/env bash
# Set up (first run only), then run the whole test suite on both cores. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest -n "${DISCOVER_TEST_WORKERS:-2}" --dist loadgroup "$@"
