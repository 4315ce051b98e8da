#!/usr/bin/env bash
# The first command a new user runs: install dependencies (Debian packages), build, then run the
# main job on the bundled default model (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
scripts/demo.sh "$@"
