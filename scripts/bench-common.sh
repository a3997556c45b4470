# Shared by the wrk benchmarks (sourced): the release binary, a portal started on a scratch
# data directory with an admin API key, and one wrk measurement.
command -v wrk >/dev/null || sudo apt-get install -y -q wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null
# PORTAL_BINARY: a binary to measure instead of building one (the portal itself refuses
# PORTAL_* variables it does not know, so it is not passed on).
portal=${PORTAL_BINARY:-}
unset PORTAL_BINARY
if [ -z "$portal" ]; then
    swift build -c release --product portal >/dev/null
    portal="$(swift build -c release --show-bin-path)/portal"
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# bench_start PORT [VAR=value ...]: serves on PORT with the host pack enabled; sets `base`,
# `pid` and `key` (an admin API key) and writes $work/key.lua (wrk sends the key).
bench_start() {
    local port=$1; shift
    base="http://127.0.0.1:$port"
    env "$@" PORTAL_BOOTSTRAP_ADMIN_PASSWORD=bench-password-1 PORTAL_LOG_LEVEL=warning \
        "$portal" serve --data-dir "$work/data" --port "$port" >"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/healthz" && break; sleep 0.1; done
    curl -sf -o /dev/null "$base/healthz" || { echo "the portal did not start:" >&2; cat "$work/log" >&2; exit 1; }
    curl -sS --fail-with-body -c "$work/cookies" -o "$work/me.json" -H 'Content-Type: application/json' \
        -d '{"username":"admin","password":"bench-password-1"}' "$base/api/auth/login"
    local csrf
    csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrfToken"])' "$work/me.json")
    curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{"enabled":true}' "$base/api/packs/host/enabled"
    key=$(curl -sf -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d '{"name":"bench","role":"admin"}' "$base/api/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$key" >"$work/key.lua"
}

# bench_measure CONNECTIONS LUA PATH: one 10 s wrk run (2 threads); prints "p50_ms p99_ms rps non2xx".
bench_measure() {
    wrk -t2 -c"$1" -d10s --latency -s "$2" "$base$3" | python3 -c '
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
