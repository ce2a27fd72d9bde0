#!/usr/bin/env bash
# Run every bench with its defaults, one after the other; figures go to stdout and to
# $TMPDIR/klaxon-bench-<timestamp>.txt. Usage: bench/run_all.sh  (~20 min on 2 cores)
# BASELINE=<path of an older checkout with its own .venv> adds "before" figures beside
# "after" in bench.worker_cpu and bench.burst (e.g. `git worktree add ../base <commit>`).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
out="${TMPDIR:-/tmp}/klaxon-bench-$(date +%Y%m%d-%H%M%S).txt"
trees="."
if [ -n "${BASELINE:-}" ]; then trees="$BASELINE,."; fi
for bench in enqueue bridge_throughput watchlist end_to_end workers worker_cpu burst scale_out memory recorder api; do
    echo "=== bench.$bench ===" | tee -a "$out"
    args=()
    case $bench in worker_cpu | burst) args=(--trees "$trees") ;; esac
    # librdkafka logs a disconnect when the bench stops its broker: not a figure.
    { "$python" -m "bench.$bench" "${args[@]}" 2>&1 || echo "bench.$bench FAILED"; } | grep -v "^%[0-9]|" | tee -a "$out"
    echo | tee -a "$out"
done
echo "figures saved in $out"
