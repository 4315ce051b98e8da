#!/usr/bin/env bash
# Builds sparq and runs the whole test suite (unit, kernel, model and CLI tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build && ctest --output-on-failure -j "${SPARQ_JOBS:-2}" --timeout 600
