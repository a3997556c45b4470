#!/usr/bin/env bash
# API v1 read throughput next to the cheapest request the portal serves: the release binary
# (rate limiting on, budgets high so nothing is refused) answers, alternately three times
# each, with wrk (2 threads, 32 connections, 10 s):
#   healthz  GET /healthz                 no authentication, no storage
#   v1 run   GET /api/v1/runs/{id}        an API key checked, the query checked, one run read
#                                         from LMDB and encoded, with ETag-free JSON and the
#                                         RateLimit headers
# Prints requests/s and p50/p99 per run, the medians, and v1 as a share of /healthz (the
# target is at least 70%).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-common.sh
bench_start 18992 PORTAL_RATELIMIT_READ_BURST=1000000 PORTAL_RATELIMIT_READ_PER_MINUTE=1000000
run=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"input":{}}' \
    "$base/api/v1/tools/host.kernel/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

results=()
for round in 1 2 3; do
    results+=("healthz $(bench_measure 32 "$work/key.lua" /healthz)")
    results+=("v1-run $(bench_measure 32 "$work/key.lua" "/api/v1/runs/$run")")
done
kill -TERM $pid; wait $pid || true

python3 - "${results[@]}" <<'PY'
import statistics, sys
kinds = {}
for line in sys.argv[1:]:
    kind, p50, p99, rps, errors = line.split()
    assert int(errors) == 0, f"{kind}: some responses were not 2xx"
    kinds.setdefault(kind, []).append((float(p50), float(p99), float(rps)))
medians = {}
for kind, values in kinds.items():
    p50s, p99s, rpss = zip(*values)
    medians[kind] = statistics.median(rpss)
    print(f"{kind:8} req/s {', '.join(f'{v:.0f}' for v in rpss):>22} (median {medians[kind]:.0f}); "
          f"p50 ms {', '.join(f'{v:.2f}' for v in p50s)}; p99 ms {', '.join(f'{v:.2f}' for v in p99s)}")
print(f"GET /api/v1/runs/{{id}} at {medians['v1-run'] / medians['healthz']:.0%} of /healthz (target: at least 70%)")
PY
