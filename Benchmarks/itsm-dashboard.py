"""The service dashboard and the SLA timers at scale, each figure beside its baseline in one run:

1. Dashboard query time (`GET /api/v1/incidents/dashboard`, the default 30 days) with 1,000
   incidents and then with 100,000 (98% of them resolved, as in a team's history; 50
   services, 5 groups): p50 and p99 over `--queries` requests each, and the ratio. The open
   figures come from the state index and the period figures from per-day figures, so the
   time should follow the open incidents and the days, not the total.
2. The SLA timer service's cost: 5,000 urgent incidents, each with a first-response and a
   resolution clock (10,000 running clocks, 20,000 durable timers for their warnings and
   breaches, hours away): the portal's CPU time while idle for `--idle` seconds and its
   resident memory, against the same portal before those clocks existed; and the dashboard's
   p50 again, now with 7,000 open incidents.

    python3 Benchmarks/itsm-dashboard.py --portal .build/release/portal [--incidents 100000]

The data directory is removed afterwards."""
import argparse
import concurrent.futures
import os
import statistics
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Browser"))
from conftest import Portal, admin_session  # noqa: E402
from test_mcp import free_port  # noqa: E402

UNLIMITED = {f"PORTAL_RATELIMIT_{kind}_{what}": "1000000" for kind in ("READ", "WRITE", "TOOL_RUN") for what in ("PER_MINUTE", "BURST")}
LEVELS = ["high", "medium", "low"]
THREADS = 8


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Client:
    """One requests session per worker thread, all with the same API key."""

    def __init__(self, url, key):
        self.url, self.key = url, key
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=THREADS, initializer=self._start)
        self.local = __import__("threading").local()

    def _start(self):
        self.local.session = requests.Session()
        self.local.session.headers["Authorization"] = f"Bearer {self.key}"

    def session(self):
        if not hasattr(self.local, "session"):
            self._start()
        return self.local.session

    def open_incidents(self, first, count, urgent=False):
        """Opens incidents numbered first … first+count-1; resolves 98% of them unless urgent."""
        def one(number):
            body = {"title": f"incident {number}", "impact": "high" if urgent else LEVELS[1 + number % 2],
                    "urgency": "high" if urgent else LEVELS[1 + (number // 2) % 2],
                    "service": f"service-{number % 50}", "group": f"group-{number % 5}", "category": "bench"}
            answer = self.session().post(self.url + "api/v1/incidents", json=body)
            assert answer.status_code == 201, answer.text
            if not urgent and number % 50 != 0:
                incident_id = answer.json()["incident"]["id"]
                moved = self.session().post(self.url + f"api/v1/incidents/{incident_id}/state", json={"state": "resolved", "resolutionCode": "fixed"})
                assert moved.status_code == 200, moved.text
        started = time.perf_counter()
        list(self.pool.map(one, range(first, first + count), chunksize=64))
        return time.perf_counter() - started

    def dashboard_times(self, queries):
        times = []
        session = self.session()
        for _ in range(queries):
            began = time.perf_counter()
            answer = session.get(self.url + "api/v1/incidents/dashboard")
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.text
        return times, answer.json()


def process_figures(pid, idle):
    """CPU seconds used over `idle` seconds of wall time, and the resident memory in MB."""
    def cpu():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before = cpu()
    time.sleep(idle)
    used = cpu() - before
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:")) / 1024
    return used, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portal", default=".build/release/portal")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--urgent", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()

    portal = Portal(os.path.abspath(args.portal), port=free_port(), env=UNLIMITED)
    try:
        admin = admin_session(portal)
        url = portal.url
        key = admin.post(url + "api/keys", json={"name": "bench", "role": "admin"}).json()["secret"]
        calendar = {"name": "always", "timeZone": "UTC", "hours": [{"weekday": day, "from": "00:00", "to": "24:00"} for day in range(7)], "holidays": []}
        assert admin.put(url + "api/business-calendars/always", json=calendar).status_code == 200
        sla = {"name": "urgent", "priorities": [1], "calendar": "always", "firstResponseMinutes": 240, "resolutionMinutes": 1440}
        assert admin.put(url + "api/slas/urgent", json=sla).status_code == 200
        client = Client(url, key)

        small = 1_000
        elapsed = client.open_incidents(0, small)
        client.dashboard_times(10)
        few, board = client.dashboard_times(args.queries)
        print(f"{small:,} incidents ({board['openTotal']} open) written in {elapsed:.1f} s; dashboard p50 {statistics.median(few) * 1000:.2f} ms, "
              f"p99 {percentile(few, 0.99) * 1000:.2f} ms")

        elapsed = client.open_incidents(small, args.incidents - small)
        client.dashboard_times(10)
        many, board = client.dashboard_times(args.queries)
        print(f"{args.incidents:,} incidents ({board['openTotal']} open) written in {elapsed:.1f} s "
              f"({(args.incidents - small) / elapsed:.0f} incidents/s, 98% also resolved); dashboard p50 {statistics.median(many) * 1000:.2f} ms, "
              f"p99 {percentile(many, 0.99) * 1000:.2f} ms")
        print(f"dashboard with {args.incidents // small}x the incidents: p50 ratio {statistics.median(many) / statistics.median(few):.2f}x, "
              f"p99 ratio {percentile(many, 0.99) / percentile(few, 0.99):.2f}x")

        idle_cpu, idle_rss = process_figures(portal.process.pid, args.idle)
        elapsed = client.open_incidents(args.incidents, args.urgent, urgent=True)
        clocks_cpu, clocks_rss = process_figures(portal.process.pid, args.idle)
        with_clocks, board = client.dashboard_times(args.queries)
        print(f"{args.urgent:,} urgent incidents opened in {elapsed:.1f} s: {args.urgent * 2:,} running SLA clocks, {args.urgent * 4:,} durable timers")
        print(f"idle {args.idle:.0f} s: CPU {clocks_cpu:.2f} s with the clocks against {idle_cpu:.2f} s without; "
              f"resident memory {clocks_rss:.0f} MB against {idle_rss:.0f} MB")
        print(f"dashboard with {board['openTotal']:,} open incidents: p50 {statistics.median(with_clocks) * 1000:.2f} ms, "
              f"p99 {percentile(with_clocks, 0.99) * 1000:.2f} ms ({statistics.median(with_clocks) / statistics.median(many):.2f}x the one with "
              f"{board['openTotal'] - args.urgent:,} open)")
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
