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
command -v wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null
swift build -c release --product portal >/dev/null
portal="$(swift build -c release --show-bin-path)/portal"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18991
base="http://127.0.0.1:$port"

rm -rf "$work/data"
PORTAL_RATELIMIT_ENABLED=false PORTAL_BOOTSTRAP_ADMIN_PASSWORD=bench-password-1 PORTAL_LOG_LEVEL=warning \
    "$portal" serve --data-dir "$work/data" --port $port >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/healthz" && break; sleep 0.1; done
curl -sf -c "$work/cookies" -o "$work/me.json" -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"bench-password-1"}' "$base/api/auth/login"
csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrfToken"])' "$work/me.json")
curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{"enabled":true}' "$base/api/packs/host/enabled"
key=$(curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"name":"bench","role":"admin"}' "$base/api/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"input":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $key"
LUA

measure() {  # $1 = lua script, $2 = path; prints "p50_ms p99_ms rps non2xx"
    wrk -t2 -c16 -d10s --latency -s "$1" "$base$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(label):
    value, unit = re.search(r"^\s+" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
p50, p99 = ms("50%"), ms("99%")
print(f"{p50:.3f} {p99:.3f} {rps:.1f} {errors.group(1) if errors else 0}")'
}

results=()
for round in 1 2 3; do
    results+=("baseline $(measure "$work/get.lua" /api/me)")
    results+=("builtin $(measure "$work/post.lua" /api/tools/host.kernel/runs)")
    results+=("command $(measure "$work/post.lua" /api/tools/host.processes/runs)")
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
