#!/usr/bin/env bash
# Run every bench with its defaults, one after the other; figures go to stdout and to
# $TMPDIR/klaxon-bench-<timestamp>.txt. Usage: bench/run_all.sh  (~8 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
out="${TMPDIR:-/tmp}/klaxon-bench-$(date +%Y%m%d-%H%M%S).txt"
for bench in enqueue bridge_throughput watchlist end_to_end workers scale_out memory recorder api; do
    echo "=== bench.$bench ===" | tee -a "$out"
    # librdkafka logs a disconnect when the bench stops its broker: not a figure.
    { "$python" -m "bench.$bench" 2>&1 || echo "bench.$bench FAILED"; } | grep -v "^%[0-9]|" | tee -a "$out"
    echo | tee -a "$out"
done
echo "figures saved in $out"
