#!/usr/bin/env bash
# Runs the storage benchmarks (KV typed vs raw LMDB vs SQLite, one run) and prints the medians
# and the ratios the storage issue targets. Release build; takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
swift package --disable-sandbox benchmark --target KVBenchmarks --no-progress | tee "$out" >/dev/null
python3 scripts/bench_table.py "$out"
