"""The service dashboard and the SLA timers at scale, each figure beside its baseline in one run:

1. Dashboard query time (`GET /api/v1/incidents/dashboard`, the default 30 days) with 1,000
   incidents and then with 100,000 (98% of them resolved, as in a team's history; 50
   services, 5 groups) and 1,000 changes whose windows start in the period: p50 and p99 over `--queries` requests each, and the ratio. The open
   figures come from the state index and the period figures from per-day figures, so the
   time should follow the open incidents and the days, not the total.
2. The SLA timer service's cost: 5,000 urgent incidents, each with a first-response and a
   resolution clock (10,000 running clocks, 20,000 durable timers for their warnings and
   breaches, hours away): the portal's CPU time while idle for `--idle` seconds and its
   resident memory, against the same portal before those clocks existed; and the dashboard's
   p50 again, now with 7,000 open incidents.
3. Incident search by meaning (`GET /api/v1/incidents/search`, top 10), p50 and p99 with
   1,000 incidents and with all of them, once every incident is embedded (a binary without
   the endpoint skips this).

With `--baseline OTHER`, the same steps run on another binary right after (for instance the
previous release), and each figure is printed with its ratio to the baseline's.

    python3 Benchmarks/itsm-dashboard.py --portal .build/release/portal [--incidents 100000] [--baseline old/portal]

The data directory is removed afterwards."""
import argparse
import concurrent.futures
import os
import statistics
import subprocess
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

    def open_changes(self, count):
        """Opens `count` normal changes whose windows start in the last 30 days (the
        dashboard's default period), one hour each."""
        now = time.time()

        def one(number):
            start = now - (number % 720 + 1) * 3600
            stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
            body = {"type": "normal", "title": f"change {number}", "windowStart": stamp(start), "windowEnd": stamp(start + 3600)}
            answer = self.session().post(self.url + "api/v1/changes", json=body)
            assert answer.status_code == 201, answer.text
        list(self.pool.map(one, range(count), chunksize=64))

    def search_times(self, queries):
        """`None` when the binary has no incident search."""
        session = self.session()
        if session.get(self.url + "api/v1/incidents/search?q=probe").status_code != 200:
            return None  # an earlier binary: `search` is taken for an incident id
        times = []
        for number in range(queries):
            began = time.perf_counter()
            answer = session.get(self.url + f"api/v1/incidents/search?q=incident%20{number * 37}%20on%20service-{number % 50}")
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200 and len(answer.json()["matches"]) == 10, answer.text
        return times

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


def wait_until_embedded(binary, portal, timeout=1800):
    """Until no `incident.embed` job is pending or running, read from the portal's own job
    list (`portal jobs list` reads the data directory while it serves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # polls the job list, bounded
        waiting = 0
        for state in ("pending", "running"):
            listed = subprocess.run([os.path.abspath(binary), "jobs", "list", "--state", state, "--limit", "100000",
                                     "--data-dir", os.path.join(portal.data_dir, "data")], capture_output=True, text=True)
            if listed.returncode != 0:  # read while the portal writes: said, and asked again
                print(f"  (jobs list: {listed.stderr.strip()[:300]})")
                waiting += 1
                break
            waiting += sum(1 for line in listed.stdout.splitlines() if '"incident.embed"' in line)
        if waiting == 0:
            return
        time.sleep(1)
    raise RuntimeError("the incidents were not embedded in time")


def p50(times):
    return statistics.median(times) * 1000


def p99(times):
    return percentile(times, 0.99) * 1000


def measure(binary, args):
    """Every step on one portal; returns the figures by name (milliseconds, seconds, MB)."""
    figures = {}
    portal = Portal(os.path.abspath(binary), port=free_port(), env=UNLIMITED)
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
        figures.update(small_open=board["openTotal"], small_p50=p50(few), small_p99=p99(few))
        print(f"  {small:,} incidents ({board['openTotal']} open) written in {elapsed:.1f} s; dashboard p50 {p50(few):.2f} ms, p99 {p99(few):.2f} ms")
        wait_until_embedded(binary, portal)
        searched_few = client.search_times(args.queries)
        if searched_few:
            figures.update(search_small_p50=p50(searched_few), search_small_p99=p99(searched_few))
            print(f"  search by meaning with {small:,} incidents: p50 {p50(searched_few):.2f} ms, p99 {p99(searched_few):.2f} ms")

        elapsed = client.open_incidents(small, args.incidents - small)
        client.open_changes(args.changes)
        figures["writes_per_second"] = (args.incidents - small) / elapsed
        client.dashboard_times(10)
        many, board = client.dashboard_times(args.queries)
        figures.update(large_open=board["openTotal"], large_p50=p50(many), large_p99=p99(many))
        assert board["changes"]["planned"] == args.changes, board["changes"]
        print(f"  {args.incidents:,} incidents ({board['openTotal']} open) and {args.changes:,} changes in the period; incidents written in {elapsed:.1f} s "
              f"({figures['writes_per_second']:.0f} incidents/s, 98% also resolved); dashboard p50 {p50(many):.2f} ms, p99 {p99(many):.2f} ms "
              f"({p50(many) / p50(few):.2f}x and {p99(many) / p99(few):.2f}x the {small:,})")
        began = time.perf_counter()
        wait_until_embedded(binary, portal)
        searched_many = client.search_times(args.queries)
        if searched_many:
            figures.update(search_large_p50=p50(searched_many), search_large_p99=p99(searched_many))
            print(f"  search by meaning with {args.incidents:,} incidents (embedded {time.perf_counter() - began:.0f} s after the last write): "
                  f"p50 {p50(searched_many):.2f} ms, p99 {p99(searched_many):.2f} ms ({p50(searched_many) / p50(searched_few):.2f}x the {small:,})")

        idle_cpu, idle_rss = process_figures(portal.process.pid, args.idle)
        elapsed = client.open_incidents(args.incidents, args.urgent, urgent=True)
        wait_until_embedded(binary, portal)
        clocks_cpu, clocks_rss = process_figures(portal.process.pid, args.idle)
        with_clocks, board = client.dashboard_times(args.queries)
        figures.update(idle_cpu=idle_cpu, idle_rss=idle_rss, clocks_cpu=clocks_cpu, clocks_rss=clocks_rss,
                       urgent_open=board["openTotal"], urgent_p50=p50(with_clocks), urgent_p99=p99(with_clocks))
        print(f"  {args.urgent:,} urgent incidents opened in {elapsed:.1f} s: {args.urgent * 2:,} running SLA clocks, {args.urgent * 4:,} durable timers")
        print(f"  idle {args.idle:.0f} s: CPU {clocks_cpu:.2f} s with the clocks against {idle_cpu:.2f} s without; "
              f"resident memory {clocks_rss:.0f} MB against {idle_rss:.0f} MB")
        print(f"  dashboard with {board['openTotal']:,} open incidents: p50 {p50(with_clocks):.2f} ms, p99 {p99(with_clocks):.2f} ms")
    finally:
        portal.stop()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portal", default=".build/release/portal")
    parser.add_argument("--baseline", help="another binary to run the same steps on, for the ratios")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--urgent", type=int, default=5_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()

    print(f"{args.portal}:")
    ours = measure(args.portal, args)
    if not args.baseline:
        return
    print(f"{args.baseline} (baseline):")
    theirs = measure(args.baseline, args)
    print("ratios, this binary / the baseline (below 1: faster or smaller):")
    for name in ("small_p50", "small_p99", "large_p50", "large_p99", "urgent_p50", "urgent_p99", "clocks_rss", "writes_per_second"):
        print(f"  {name}: {ours[name]:.2f} / {theirs[name]:.2f} = {ours[name] / theirs[name]:.2f}x")


if __name__ == "__main__":
    main()
