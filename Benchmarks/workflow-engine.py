"""The workflow engine's cost, each figure beside its baseline in one run:

1. Overhead per durable step: a workflow of 10 tool steps (the builtin read tool `host.kernel`,
   each step its own transactions: started, handed over, finished) against the same 10 tool
   runs requested directly, one after the other (`POST /api/v1/tools/host.kernel/runs`).
2. Throughput: 50 runs of that 10-step workflow started at once, against 500 direct tool runs
   from 50 clients at once; reported as steps per second and the ratio.
3. Crash recovery: 1,000 unfinished runs (each at a one-hour wait), the portal killed with
   SIGKILL and started again: the time until it serves, against the same data with no
   unfinished run (the runs cancelled, then killed and started the same way).

    python3 Benchmarks/workflow-engine.py --portal .build/release/portal [--rounds 5]

Medians over the rounds; the data directories are removed afterwards."""
import argparse
import concurrent.futures
import os
import signal
import statistics
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Browser"))
from conftest import Portal, admin_session  # noqa: E402
from test_mcp import free_port  # noqa: E402

UNLIMITED = {f"PORTAL_RATELIMIT_{kind}_{what}": "1000000" for kind in ("READ", "WRITE", "TOOL_RUN") for what in ("PER_MINUTE", "BURST")}

TEN_STEPS = {"name": "ten", "title": "Ten steps",
             "nodes": [{"id": f"s{i}", "type": "tool", "config": {"tool": "host.kernel"}} for i in range(10)],
             "edges": [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(9)]}
WAITING = {"name": "waiting", "title": "Waiting",
           "nodes": [{"id": "nap", "type": "wait", "config": {"seconds": 3600}}, {"id": "after", "type": "set", "config": {"variables": {"done": True}}}],
           "edges": [{"from": "nap", "to": "after"}]}


def run_workflow(session, url, name):
    started = session.post(url + f"api/v1/workflows/{name}/runs", json={})
    assert started.status_code == 201, started.text
    run_id = started.json()["run"]["id"]
    while True:
        run = session.get(url + f"api/v1/workflow-runs/{run_id}", params={"wait": 30}).json()["run"]
        if run["status"] in ("succeeded", "failed", "cancelled", "needs-attention"):
            assert run["status"] == "succeeded", run
            return


def direct_runs(session, url, count):
    for _ in range(count):
        answer = session.post(url + "api/v1/tools/host.kernel/runs", json={"input": {}})
        assert answer.status_code == 201 and answer.json()["status"] == "succeeded", answer.text


def timed(body):
    started = time.perf_counter()
    body()
    return time.perf_counter() - started


def sessions(key, count):
    made = []
    for _ in range(count):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        made.append(session)
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portal", default=".build/release/portal")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--unfinished", type=int, default=1000)
    args = parser.parse_args()
    binary = os.path.abspath(args.portal)

    portal = Portal(binary, port=free_port(), env=UNLIMITED)
    try:
        admin = admin_session(portal)
        url = portal.url
        assert admin.post(url + "api/packs/host/enabled", json={"enabled": True}).status_code == 204
        key = admin.post(url + "api/keys", json={"name": "bench", "role": "admin"}).json()["secret"]
        for definition in (TEN_STEPS, WAITING):
            assert admin.post(url + f"api/workflows/{definition['name']}/versions", json={"definition": definition}).status_code == 201
        (client,) = sessions(key, 1)
        run_workflow(client, url, "ten")
        direct_runs(client, url, 10)

        # 1. Sequential: ten durable steps against ten direct runs, alternating.
        workflow_times, direct_times = [], []
        for _ in range(args.rounds * 4):
            workflow_times.append(timed(lambda: run_workflow(client, url, "ten")))
            direct_times.append(timed(lambda: direct_runs(client, url, 10)))
        workflow, direct = statistics.median(workflow_times), statistics.median(direct_times)
        print(f"10 tool steps: workflow {workflow * 1000:.1f} ms, direct runs {direct * 1000:.1f} ms (medians of {len(workflow_times)}); "
              f"ratio {workflow / direct:.2f}x; engine overhead {(workflow - direct) / 10 * 1000:.2f} ms per step")

        # 2. Throughput with 50 at once.
        clients = sessions(key, 50)
        step_rates, direct_rates = [], []
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            for _ in range(args.rounds):
                elapsed = timed(lambda: list(pool.map(lambda session: run_workflow(session, url, "ten"), clients)))
                step_rates.append(500 / elapsed)
                elapsed = timed(lambda: list(pool.map(lambda session: direct_runs(session, url, 10), clients)))
                direct_rates.append(500 / elapsed)
        steps, runs = statistics.median(step_rates), statistics.median(direct_rates)
        print(f"50 concurrent: {steps / 10:.1f} workflow runs/s ({steps:.0f} steps/s) against {runs:.0f} direct tool runs/s; ratio {steps / runs:.2f}x")

        # 3. Recovery: unfinished runs at a long wait, SIGKILL, start again.
        started = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            def start(_):
                answer = client.post(url + "api/v1/workflows/waiting/runs", json={})
                assert answer.status_code == 201, answer.text
                return answer.json()["run"]["id"]
            started = list(pool.map(start, range(args.unfinished)))

        def kill_and_start():
            nonlocal portal
            portal.process.send_signal(signal.SIGKILL)
            portal.process.wait(timeout=30)
            began = time.perf_counter()
            portal = Portal(binary, data_dir=portal.data_dir, port=portal.port, env=portal.environment)
            return time.perf_counter() - began

        with_runs = [kill_and_start() for _ in range(args.rounds)]
        client = sessions(key, 1)[0]
        waiting = client.get(portal.url + "api/v1/workflow-runs", params={"workflow": "waiting", "status": "running", "limit": 200}).json()["runs"]
        assert len(waiting) == 200, "the unfinished runs are still there after the kills"
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda run_id: client.post(portal.url + f"api/v1/workflow-runs/{run_id}/cancel", json={}).status_code, started))
        without_runs = [kill_and_start() for _ in range(args.rounds)]
        a, b = statistics.median(with_runs), statistics.median(without_runs)
        print(f"restart after SIGKILL: {a * 1000:.0f} ms with {args.unfinished} unfinished runs, {b * 1000:.0f} ms with none; "
              f"ratio {a / b:.2f}x; {(a - b) / args.unfinished * 1000:.2f} ms per unfinished run")
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
