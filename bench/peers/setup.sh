#!/usr/bin/env bash
# Own virtual environment for the peer benchmark (never the project's .venv): recfair
# (editable, CPU torch first so pip does not pull a CUDA build), implicit, LensKit and
# cornac from PyPI.  Writes the installed versions to bench/peers/versions.txt.
#
# RecBole is not installed: recbole 1.2.1 pins ray<=2.6.3 and brings tensorboard, thop
# and its own data pipeline; it is also the project's ML-100K source, so it stays out of
# every environment recfair's tests use.  Adding it is one `pip install recbole` here plus
# an adapter in libs.py.
#
# Usage (from the repository root): bash bench/peers/setup.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PY:-python3}"
VENV="$HERE/.venv"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet -e "$ROOT" "implicit==0.7.3" "lenskit==2025.8.1" "cornac==3.0.1"
"$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE '^(implicit|lenskit|cornac|torch|numpy|scipy|pandas)==' \
  > "$HERE/versions.txt"
echo "recfair (editable) $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" >> "$HERE/versions.txt"
cat "$HERE/versions.txt"
