#!/usr/bin/env bash
# The checks of the test command (README): import layering, ruff lint and format, pytest.
# Run after `bash scripts/setup.sh --dev`; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/lint-imports
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
