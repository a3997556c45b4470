"""What the portal adds when it calls an external MCP server's tool, in one run: the same
read tool (`echo_text` of Tests/Browser/mcp_upstream.py, the official Python SDK's MCPServer
on 127.0.0.1) called directly with the official `mcp` client (one session, kept) and through
the portal's run path (`POST /api/v1/tools/upstream.echo-text/runs`: permission, schema check,
audit entry, the portal's MCP session to the server), in alternating rounds.

    python3 Benchmarks/mcp-client-overhead.py --portal .build/release/portal [--rounds 7 --calls 100]

Prints p50 and p99 per path over all rounds, and the median of the rounds' p50 ratios
(through the portal / direct). The data directory is removed afterwards."""
import argparse
import os
import statistics
import subprocess
import sys
import time

import anyio
import httpx2
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Browser"))
from conftest import Portal, admin_session  # noqa: E402
from test_mcp import free_port  # noqa: E402

TOKEN = "upstream-token-4f1c9e"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def direct_round(url, calls):
    timings = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            await client.call_tool("echo_text", {"text": "warm"})
            for _ in range(calls):
                started = time.perf_counter()
                result = await client.call_tool("echo_text", {"text": "ping"})
                timings.append((time.perf_counter() - started) * 1000)
                assert result.is_error is False
    return timings


def portal_round(session, url, calls):
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = session.post(url, json={"input": {"text": "ping"}})
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 201 and answer.json()["status"] == "succeeded", answer.text
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portal", default=".build/release/portal")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()

    port = free_port()
    upstream = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "Tests", "Browser", "mcp_upstream.py"), str(port), TOKEN],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    unlimited = {f"PORTAL_RATELIMIT_{kind}_{what}": "1000000" for kind in ("READ", "WRITE", "TOOL_RUN") for what in ("PER_MINUTE", "BURST")}
    portal = Portal(os.path.abspath(args.portal), env=unlimited)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/control/state", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        admin = admin_session(portal)
        connected = admin.post(portal.url + "api/mcp-servers", json={
            "name": "upstream", "url": f"http://127.0.0.1:{port}/mcp", "credentialHeader": "Authorization", "credential": f"Bearer {TOKEN}"})
        assert connected.status_code == 201 and connected.json()["state"] == "connected", connected.text
        assert admin.post(portal.url + "api/mcp-servers/upstream/import", json={"tools": [{"name": "echo_text", "risk": "read"}]}).status_code == 200
        assert admin.post(portal.url + "api/packs/upstream/enabled", json={"enabled": True}).status_code == 204
        key = admin.post(portal.url + "api/keys", json={"name": "bench", "role": "operator"}).json()["secret"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        run_url = portal.url + "api/v1/tools/upstream.echo-text/runs"
        portal_round(session, run_url, 10)  # warm-up

        direct, through, ratios = [], [], []
        for _ in range(args.rounds):
            d = anyio.run(direct_round, f"http://127.0.0.1:{port}/mcp", args.calls)
            t = portal_round(session, run_url, args.calls)
            direct += d
            through += t
            ratios.append(statistics.median(t) / statistics.median(d))
        print(f"direct (mcp client → server):      p50 {percentile(direct, 0.5):6.2f} ms   p99 {percentile(direct, 0.99):6.2f} ms")
        print(f"through the portal (REST run path): p50 {percentile(through, 0.5):6.2f} ms   p99 {percentile(through, 0.99):6.2f} ms")
        print(f"ratio of medians, per round: {' '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}x")
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
        portal.stop()


if __name__ == "__main__":
    main()
