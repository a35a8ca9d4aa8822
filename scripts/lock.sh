#!/usr/bin/env bash
# Regenerates requirements.lock (every transitive package pinned) from requirements.txt with
# pip-tools, in a throwaway environment so the project's .venv is not touched. Run it after
# editing requirements.txt, then `bash scripts/install.sh` reinstalls from the new lock.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
${PYTHON:-python3} -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check pip-tools==7.6.2
"$tools/bin/pip-compile" -q --no-emit-index-url --no-emit-find-links --strip-extras \
  requirements.txt -o requirements.lock
# pip resolves torch to the local CPU wheel (torch==2.13.0+cpu) where one lies on disk. The lock
# keeps the plain version so it installs anywhere: `==2.13.0` still takes that CPU wheel here.
sed -i 's/^torch==\([0-9.]*\)+cpu$/torch==\1/' requirements.lock
