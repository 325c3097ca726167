#!/usr/bin/env bash
# The main job: execute the quickstart notebook headless, on the process backend, on real data.
#
#   bash notebooks/run-quickstart.sh
#
# Creates .venv (if needed) with nblambda and the example data set, executes
# notebooks/01-quickstart.ipynb in a fresh nblambda home, saves the executed notebook to
# notebooks/executed/01-quickstart.ipynb and prints a summary of what ran.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "nblambda needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    echo "[quickstart] creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "[quickstart] installing nblambda[examples] into .venv"
log="$(mktemp -t nblambda-pip-XXXXXX.log)"
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[examples]"; } >"$log" 2>&1; then
    cat "$log" >&2; echo "pip install failed (log above)" >&2; exit 1
fi
rm -f "$log"

export NBLAMBDA_HOME="${NBLAMBDA_HOME:-$(mktemp -d -t nblambda-quickstart-XXXXXX)}"
exec .venv/bin/python -m nblambda.notebook_runner notebooks/01-quickstart.ipynb \
    --output notebooks/executed/01-quickstart.ipynb
