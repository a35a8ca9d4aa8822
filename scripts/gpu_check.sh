#!/bin/bash
# The GPU check (docs/cluster.md, docs/performance.md): on a machine with an NVIDIA GPU and the project installed, run
# the CUDA tests, the training step with and without CUDA graphs, a sweep one run after another
# and on worker processes sharing the GPU, and the whole benchmark. Summaries go to $OUT
# (default data/gpu-check), databases and logs to $WORK. Usage: bash scripts/gpu_check.sh [python]
PY=${1:-.venv/bin/python}
OUT=${OUT:-data/gpu-check}
WORK=${WORK:-/tmp/gpu-check}
MODEL=${MODEL:-default}
STEPS=${STEPS:-all}  # or a subset: tests,graphs,sweeps,bench
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
wants() { [[ $STEPS == all || ,$STEPS, == *,$1,* ]]; }
now() { "$PY" -c "import time; print(time.time())"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"

if wants tests; then
  echo "== CUDA tests"
  timeout 240 "$PY" -m pytest -q -n 0 -p no:cacheprovider tests/test_cuda_graphs.py tests/test_processes.py 2>&1 | tail -15
fi

if wants graphs; then
  echo "== the training step: eager against CUDA graphs (semantic world, 60 steps)"
  timeout 150 "$PY" - "$MODEL" <<'PY' | tee "$OUT/graphs.json"
import json, sys
from core.kernels.bench import bench_cuda_graphs
from core.lm import models
from core.worlds import build_world
lm = models.load(sys.argv[1])
print(json.dumps(bench_cuda_graphs(lm, build_world("semantic", 0, "quick", {}), 60)))
PY
fi

sweep() {  # label, executor arguments...: a fresh database each, so nothing is skipped
  local label=$1; shift
  local start; start=$(now)
  timeout 300 "$PY" -m core study --kinds "$KINDS" --seeds "$SEEDS" --sources oracle \
    --model "$MODEL" --db "$WORK/sweep-$label.duckdb" "$@" > "$WORK/sweep-$label.log" 2>&1
  local rc=$?
  local runs; runs=$(grep -c '"accuracy"' "$WORK/sweep-$label.log")
  "$PY" -c "import json, sys, time; s = time.time() - $start; print(json.dumps({'sweep': '$label', 'rc': $rc, 'kinds': '$KINDS', 'seeds': '$SEEDS', 'runs': $runs, 'seconds': round(s, 1), 'runs_per_hour': round($runs * 3600 / s)}))" | tee -a "$OUT/sweeps.jsonl"
  [ $rc = 0 ] || tail -5 "$WORK/sweep-$label.log"
}
if wants sweeps; then
  echo "== sweeps (oracle augmentations, quick worlds, 6 methods a world)"
  KINDS=reversals,syllogisms,family,semantic SEEDS=0
  sweep local --executor local
  sweep workers-4 --executor processes --workers 4
  SEEDS=0,1
  sweep workers-8 --executor processes --workers 8
  SEEDS=0
  (export LAB_CUDA_GRAPHS=0; sweep local-without-graphs --executor local)
fi

if wants bench; then
  echo "== python -m core bench"
  timeout 300 "$PY" -m core bench 2>&1 | tee "$OUT/bench.txt" | tail -14
fi
