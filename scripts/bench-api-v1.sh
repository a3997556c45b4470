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
command -v wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null
portal=${PORTAL_BINARY:-}
if [ -z "$portal" ]; then
    swift build -c release --product portal >/dev/null
    portal="$(swift build -c release --show-bin-path)/portal"
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18992
base="http://127.0.0.1:$port"

PORTAL_RATELIMIT_READ_BURST=1000000 PORTAL_RATELIMIT_READ_PER_MINUTE=1000000 PORTAL_BOOTSTRAP_ADMIN_PASSWORD=bench-password-1 \
    PORTAL_LOG_LEVEL=warning "$portal" serve --data-dir "$work/data" --port $port >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/healthz" && break; sleep 0.1; done
curl -sf -c "$work/cookies" -o "$work/me.json" -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"bench-password-1"}' "$base/api/auth/login"
csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrfToken"])' "$work/me.json")
curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{"enabled":true}' "$base/api/packs/host/enabled"
key=$(curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"name":"bench","role":"admin"}' "$base/api/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
run=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"input":{}}' \
    "$base/api/v1/tools/host.kernel/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cat >"$work/key.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $key"
LUA

measure() {  # $1 = path; prints "p50_ms p99_ms rps non2xx"
    wrk -t2 -c32 -d10s --latency -s "$work/key.lua" "$base$1" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(label):
    value, unit = re.search(r"^\s+" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{ms(\"50%\"):.3f} {ms(\"99%\"):.3f} {rps:.1f} {errors.group(1) if errors else 0}")'
}

results=()
for round in 1 2 3; do
    results+=("healthz $(measure /healthz)")
    results+=("v1-run $(measure "/api/v1/runs/$run")")
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
