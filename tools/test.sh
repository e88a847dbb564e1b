#!/usr/bin/env bash
# Installs what the tests need into .venv, then runs the suite (slow tests excluded; add -m slow for them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
exec .venv/bin/python -m pytest "$@"
