#!/usr/bin/env bash
# The test command: sets everything up from nothing, then runs the whole suite.
#
#   bash tests/run.sh [pytest args]
#
# 1. a virtual environment in .venv with nblambda and its test extra (PyPI);
# 2. the Docker engine and base image (tests/setup_docker.sh);
# 3. pytest over tests/.
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

# The docker backend's engine and offline base image (idempotent: two quick checks when ready).
# With CI=true the docker tests must run, so failing to get an engine fails the run; elsewhere
# they are skipped, and everything else still runs.
echo "[tests] Docker engine and base image (tests/setup_docker.sh)"
if ! bash tests/setup_docker.sh; then
    if [ "${CI:-}" = "true" ]; then
        echo "[tests] CI=true and no Docker engine could be started: failing" >&2
        exit 1
    fi
    echo "[tests] no Docker engine: the docker backend's tests will be skipped" >&2
fi

echo "[tests] running the suite"
exec .venv/bin/python -m pytest "$@"
