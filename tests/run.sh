#!/usr/bin/env bash
# The test command: sets everything up from nothing, then runs the whole suite.
#
#   bash tests/run.sh [pytest args]
#
# 1. a virtual environment in .venv with nblambda and its test extra (PyPI);
# 2. pytest over tests/.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k pool -x`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "nblambda needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    echo "[tests] creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "[tests] installing nblambda[test] into .venv"
log="$(mktemp -t nblambda-pip-XXXXXX.log)"
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
    cat "$log" >&2; echo "pip install failed (log above)" >&2; exit 1
fi
rm -f "$log"

echo "[tests] running the suite"
exec .venv/bin/python -m pytest "$@"
