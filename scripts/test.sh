#!/usr/bin/env bash
# One command: set up (idempotent), then lint, type-check and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_THREAD_LIMIT=1
trap '' PIPE  # a stray SIGPIPE must not end the run half way (see tests/conftest.py)
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest -q "$@"
