#!/usr/bin/env bash
# The rate limiter's cost per request under load: the release binary answers the same
# request (an anonymous GET /api/me, refused with 401 after authentication and rate
# limiting) with the limiter on and off, alternately, three times each, with wrk
# (2 threads, 32 connections, 5 s). Budgets are set high so nothing is refused.
# Prints requests/s for each run, the medians, and the cost per request implied.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null
swift build -c release --product portal >/dev/null
portal="$(swift build -c release --show-bin-path)/portal"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18990

run() {  # $1 = true|false
    rm -rf "$work/data"
    PORTAL_RATELIMIT_ENABLED=$1 PORTAL_RATELIMIT_READ_BURST=1000000 PORTAL_RATELIMIT_READ_PER_MINUTE=1000000 \
        PORTAL_LOG_LEVEL=warning "$portal" serve --data-dir "$work/data" --port $port >"$work/log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    wrk -t2 -c32 -d5s "http://127.0.0.1:$port/api/me" | awk '/Requests\/sec/ {print $2}'
    kill -TERM $pid; wait $pid || true
}

on=(); off=()
for _ in 1 2 3; do
    off+=("$(run false)")
    on+=("$(run true)")
done
python3 - "${on[@]}" "${off[@]}" <<'PY'
import statistics, sys
values = list(map(float, sys.argv[1:]))
on, off = values[:3], values[3:]
m_on, m_off = statistics.median(on), statistics.median(off)
print("limiter on : " + ", ".join(f"{v:.0f}" for v in on) + f" req/s, median {m_on:.0f}")
print("limiter off: " + ", ".join(f"{v:.0f}" for v in off) + f" req/s, median {m_off:.0f}")
print(f"ratio on/off {m_on / m_off:.3f}; implied cost {1e6 / m_on - 1e6 / m_off:.2f} µs per request (2 cores)")
PY
