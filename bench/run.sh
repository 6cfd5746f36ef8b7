#!/usr/bin/env bash
# The benchmark: converge speed (2, 4, 8 workers) and what the fleet moves,
# each against a baseline measured in the same run. Not part of `make test`.
#   bench/run.sh [--sizes 2,4,8] [--tasks 10000] [--no-tuning] [--no-recovery]
# Results: bench/results/<date>.json, .md (the table) and .png; logs in
# bench/work/logs/. Needs the README's setup (make venv platform).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh >/dev/null
# shellcheck disable=SC1091
. .venv/bin/activate
pip install -q -r bench/requirements.txt
scripts/platform.sh >/dev/null
exec python bench/bench.py "$@"
