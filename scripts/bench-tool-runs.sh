#!/usr/bin/env bash
# The cost of one audited read-risk tool run under concurrent load. The release binary (with
# fsync on every commit, as in production; rate limiting off) serves, through one admin API
# key, alternately three times each, with wrk (2 threads, 16 connections, 10 s):
#   baseline  GET  /api/me                        authentication and the request path only
#   builtin   POST /api/tools/host.kernel/runs    a builtin read tool: validate, run, two
#                                                 durable writes with their audit entries
#   command   POST /api/tools/host.processes/runs a command tool: the same plus spawning ps
# Prints p50/p99 latency and requests/s per run, the medians, and each run kind's cost
# over the baseline. Checks afterwards that the audit trail verifies and holds every run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-common.sh
bench_start 18991 PORTAL_RATELIMIT_ENABLED=false
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"input":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA

results=()
for round in 1 2 3; do
    results+=("baseline $(bench_measure 16 "$work/key.lua" /api/me)")
    results+=("builtin $(bench_measure 16 "$work/post.lua" /api/tools/host.kernel/runs)")
    results+=("command $(bench_measure 16 "$work/post.lua" /api/tools/host.processes/runs)")
done
kill -TERM $pid; wait $pid || true
verify=$("$portal" audit verify --data-dir "$work/data")

python3 - "$verify" "${results[@]}" <<'PY'
import statistics, sys
verify, rows = sys.argv[1], [line.split() for line in sys.argv[2:]]
kinds = {}
for kind, p50, p99, rps, errors in rows:
    kinds.setdefault(kind, []).append((float(p50), float(p99), float(rps), int(errors)))
print(f"{'kind':9} {'p50 ms (runs)':>30} {'p99 ms (runs)':>30} {'req/s (runs)':>26}  median p50 / p99 / req/s")
medians = {}
for kind, values in kinds.items():
    p50s, p99s, rpss = [v[0] for v in values], [v[1] for v in values], [v[2] for v in values]
    assert all(v[3] == 0 for v in values), f"{kind}: some responses were not 2xx"
    medians[kind] = (statistics.median(p50s), statistics.median(p99s), statistics.median(rpss))
    print(f"{kind:9} {', '.join(f'{v:.2f}' for v in p50s):>30} {', '.join(f'{v:.2f}' for v in p99s):>30} "
          f"{', '.join(f'{v:.0f}' for v in rpss):>26}  {medians[kind][0]:.2f} / {medians[kind][1]:.2f} / {medians[kind][2]:.0f}")
b = medians["baseline"]
for kind in ("builtin", "command"):
    m = medians[kind]
    print(f"{kind}: p50 {m[0] / b[0]:.1f}x, p99 {m[1] / b[1]:.1f}x the baseline; throughput {m[2] / b[2]:.3f}x")
print(verify)
PY
