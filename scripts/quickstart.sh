#!/usr/bin/env bash
# The quick start: sets everything up on a fresh Debian/Ubuntu machine (scripts/setup.sh), then
# runs the main job — a real download from a local seeder into a chunk store, verified.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
pnpm --filter @chunktorrent/example-download-to-chunks start "$@"
