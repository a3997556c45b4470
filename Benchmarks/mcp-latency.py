"""MCP next to the REST API, on one portal in one run: the round trip of a builtin read tool
(`host.kernel`) called through `tools/call` and through `POST /api/v1/tools/{name}/runs`, in
alternating rounds, and `tools/list` with 500 tools in the catalog (the host pack's 11 and
489 more in five generated packs, enabled in the organization, which an operator key sees).

    python3 Benchmarks/mcp-latency.py --portal .build/release/portal [--rounds 7 --calls 200]

Each round makes `calls` sequential requests per kind over one keep-alive connection per kind
(the same HTTP client for both); latency is measured around each request. Prints p50 and p99
per kind over all rounds, the median of the rounds' p50 ratios (MCP / REST), and tools/list
latency (all 5 pages of 100 tools, and one page). The data directory is removed afterwards."""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Browser"))
from conftest import Portal, admin_session  # noqa: E402


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def bulk_pack(number, template, count):
    tools = []
    for index in range(count):
        tool = dict(template)
        tool["name"] = f"bulk{number}.kernel-{index:03d}"
        tool["title"] = f"Kernel {number}/{index}"
        tools.append(tool)
    return {"name": f"bulk{number}", "title": f"Bulk {number}", "version": "1.0.0", "description": "Generated for the benchmark.", "tools": tools}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portal", default=".build/release/portal")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    unlimited = {f"PORTAL_RATELIMIT_{kind}_{what}": "1000000" for kind in ("READ", "WRITE", "TOOL_RUN") for what in ("PER_MINUTE", "BURST")}
    portal = Portal(os.path.abspath(args.portal), env=unlimited)
    try:
        admin = admin_session(portal)
        assert admin.post(portal.url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
        template = next(tool for tool in json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources/Portal/Tools/Packs/host.json")))["tools"]
                        if tool["name"] == "host.kernel")
        host_tools = len(admin.get(portal.url + "api/tools").json()["tools"])
        generated = 500 - host_tools
        for number in range(1, 6):
            count = generated // 5 + (1 if number <= generated % 5 else 0)
            installed = admin.post(portal.url + "api/packs", json=bulk_pack(number, template, count))
            assert installed.status_code == 201, installed.text
            assert admin.post(portal.url + f"api/packs/bulk{number}/enabled", json={"enabled": True}).status_code == 204
        key = admin.post(portal.url + "api/keys", json={"name": "bench", "role": "operator"}).json()["secret"]
        auth = {"Authorization": f"Bearer {key}"}
        rest, mcp = requests.Session(), requests.Session()
        rest.headers.update(auth)
        mcp.headers.update({**auth, "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"})

        def rest_call():
            answer = rest.post(portal.url + "api/v1/tools/host.kernel/runs", json={"input": {}})
            assert answer.status_code == 201 and answer.json()["status"] == "succeeded", answer.text

        def mcp_call():
            answer = mcp.post(portal.url + "mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "host.kernel", "arguments": {}}})
            assert answer.status_code == 200 and answer.json()["result"]["structuredContent"]["status"] == "succeeded", answer.text

        def list_page(cursor=None):
            params = {"cursor": cursor} if cursor else {}
            answer = mcp.post(portal.url + "mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": params})
            assert answer.status_code == 200, answer.text
            return answer.json()["result"]

        def list_all():
            page, count = list_page(), 0
            while True:
                count += len(page["tools"])
                if "nextCursor" not in page:
                    return count
                page = list_page(page["nextCursor"])

        def timed(call, times):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)

        assert list_all() == 501, "500 tools and portal.run-status"
        for call in (rest_call, mcp_call):  # warm-up
            for _ in range(20):
                call()
        latencies = {"rest": [], "mcp": []}
        ratios = []
        listing_all, listing_page = [], []
        for round_number in range(args.rounds):
            order = [("rest", rest_call), ("mcp", mcp_call)]
            if round_number % 2:
                order.reverse()
            round_p50 = {}
            for name, call in order:
                times = []
                for _ in range(args.calls):
                    timed(call, times)
                latencies[name] += times
                round_p50[name] = statistics.median(times)
            ratios.append(round_p50["mcp"] / round_p50["rest"])
            for _ in range(10):
                timed(list_all, listing_all)
                timed(list_page, listing_page)
        print(f"tools/call vs REST run, host.kernel, {args.rounds} rounds x {args.calls} calls each, alternating")
        for name in ("rest", "mcp"):
            values = latencies[name]
            print(f"  {name}: p50 {percentile(values, 0.5):.2f} ms, p99 {percentile(values, 0.99):.2f} ms")
        print(f"  MCP / REST, median of the rounds' p50 ratios: {statistics.median(ratios):.3f}")
        print(f"tools/list with 500 tools and portal.run-status: all 6 pages p50 {percentile(listing_all, 0.5):.2f} ms, p99 {percentile(listing_all, 0.99):.2f} ms; "
              f"one page of 100 p50 {percentile(listing_page, 0.5):.2f} ms, p99 {percentile(listing_page, 0.99):.2f} ms")
    finally:
        portal.stop()
        shutil.rmtree(portal.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
