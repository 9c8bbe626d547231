#!/usr/bin/env bash
# One command: set up (idempotent) and run the end-to-end demo on simulated devices.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KIOSK_DATA_DIR=${KIOSK_DATA_DIR:-$PWD/var/demo}
exec .venv/bin/kiosk demo "$@"
