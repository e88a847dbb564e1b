#!/usr/bin/env bash
# Installs what the tests need into .venv, then runs the suite (slow tests excluded; add -m slow for them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
# Two workers, each taking a whole test file (its module fixtures stay in one process): exporting
# is mostly single-threaded Python, so a second file runs on the second core. Measured on 2 cores:
# 27.5 min in one process, 21.8 min with two (while an export shared the cores).
# SLM_EDGE_TEST_WORKERS=0 runs everything in one process (for a debugger or -x).
workers="${SLM_EDGE_TEST_WORKERS:-2}"
parallel=()
[ "$workers" = 0 ] || parallel=(-n "$workers" --dist loadfile)
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
