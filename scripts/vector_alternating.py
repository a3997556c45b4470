#!/usr/bin/env python3
"""Alternating rounds of portal and FAISS on the same stored indexes, to quote ratios that
hold on a machine whose speed drifts by a third within minutes.

Each index is built and stored once (portal: `portal bench vector --data-dir`, float32 and
int8 traversal; FAISS: `Benchmarks/peers/bench_peers.py --index-cache`). Then every round
loads each index afresh and runs all queries at one ef (best of --runs passes), portal and
FAISS back to back, the order swapped every round. A round's ratio compares passes a few seconds apart;
the median over rounds is the figure to quote. With --build-rounds, builds alternate the
same way (portal, then FAISS, with --threads each); with --baseline, another portal binary
builds in each of those rounds too, for an A/B of a build change against FAISS and itself.

  python3 scripts/vector_alternating.py --portal PATH --data /tmp/vbig --out /tmp/valt
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

PEERS = os.environ.get("PEERS", os.path.join(os.path.dirname(__file__), "..", "Benchmarks", "peers")) + "/bench_peers.py"


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(command), result.stdout, result.stderr))
    return result.stdout


def portal_run(args, traversal, extra):
    files = ["--base", os.path.join(args.data, "base.fvecs"), "--query", os.path.join(args.data, "query.fvecs"),
             "--gt", os.path.join(args.data, "groundtruth.ivecs")]
    out = run([args.portal, "bench", "vector", *files, "--M", "16", "--efc", "200", "--ef", str(args.ef),
               "--runs", str(args.runs), "--traversal", traversal, *extra])
    line = re.search(r"ef=\d+: (\d+) QPS median, (\d+) best of \d+, recall@10 ([\d.]+)", out)
    load = re.search(r"load: .* in ([\d.]+) s .*resident (\d+) MiB \(anonymous (\d+), file-mapped (\d+)\)", out)
    build = re.search(r"build: .* in ([\d.]+) s on", out)
    return {"qps": int(line.group(2)), "recall": float(line.group(3)),
            "load_s": float(load.group(1)) if load else None,
            "resident_mib": int(load.group(2)) if load else None,
            "file_mapped_mib": int(load.group(4)) if load else None,
            "build_s": float(build.group(1)) if build else None}


def faiss_run(args, cache, threads=1):
    command = [sys.executable, args.peers, "--data", args.data, "--engines", "faiss", "--M", "16", "--efc", "200",
               "--efs", str(args.ef), "--runs", str(args.runs), "--build-threads", str(threads)]
    if cache:
        command += ["--index-cache", cache]
    out = run(command)
    row = re.search(r"^faiss\s+16\s+200\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    return {"qps": float(row.group(2)), "recall": float(row.group(1)), "build_s": float(row.group(3))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portal", required=True)
    parser.add_argument("--data", default="/tmp/vbig")
    parser.add_argument("--out", default="/tmp/valt")
    parser.add_argument("--peers", default=PEERS)
    parser.add_argument("--ef", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--build-rounds", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="build threads (both engines)")
    parser.add_argument("--baseline", help="another portal binary to build with in each build round")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cache = os.path.join(args.out, "faiss-cache")
    traversals = ["float32", "int8"]
    for traversal in traversals:
        directory = os.path.join(args.out, "portal-%s-data" % traversal)
        if not os.path.exists(os.path.join(directory, "data.mdb")):
            portal_run(args, traversal, ["--threads", str(args.threads), "--data-dir", directory])
    faiss_run(args, cache, args.threads)  # builds and stores the FAISS index once

    rounds = []
    for number in range(args.rounds):
        def ours():
            return {t: portal_run(args, t, ["--data-dir", os.path.join(args.out, "portal-%s-data" % t)]) for t in traversals}
        if number % 2 == 0:
            portal, faiss = ours(), faiss_run(args, cache)
        else:
            faiss, portal = faiss_run(args, cache), ours()
        rounds.append({"portal": portal, "faiss": faiss})
        print("round %d: faiss %.0f QPS; %s" % (number + 1, faiss["qps"], "; ".join(
            "portal %s %d QPS (%.2fx)" % (t, portal[t]["qps"], portal[t]["qps"] / faiss["qps"]) for t in traversals)), flush=True)

    builds = []
    for number in range(args.build_rounds):
        def ours(binary=args.portal):
            return portal_run(argparse.Namespace(**{**vars(args), "portal": binary}), "float32", ["--threads", str(args.threads)])
        def theirs():
            return faiss_run(args, None, args.threads)["build_s"]
        if number % 2 == 0:
            portal, faiss = ours(), theirs()
            baseline = ours(args.baseline) if args.baseline else None
        else:
            baseline = ours(args.baseline) if args.baseline else None
            faiss, portal = theirs(), ours()
        build = {"portal_s": portal["build_s"], "faiss_s": faiss, "portal_recall": portal["recall"]}
        line = "build round %d: portal %.1f s, faiss %.1f s (%.2fx)" % (number + 1, portal["build_s"], faiss, portal["build_s"] / faiss)
        if baseline:
            build.update(baseline_s=baseline["build_s"], baseline_recall=baseline["recall"])
            line += "; baseline %.1f s (%.2fx FAISS)" % (baseline["build_s"], baseline["build_s"] / faiss)
        builds.append(build)
        print(line, flush=True)

    lines = ["| | median QPS | median ratio to FAISS (per round) | min–max ratio | recall@10 |", "| --- | --- | --- | --- | --- |"]
    lines.append("| FAISS IndexHNSWFlat | %.0f | | | %.3f |" % (
        statistics.median(r["faiss"]["qps"] for r in rounds), rounds[0]["faiss"]["recall"]))
    for t in traversals:
        ratios = [r["portal"][t]["qps"] / r["faiss"]["qps"] for r in rounds]
        lines.append("| portal %s (after load) | %.0f | %.2fx | %.2fx–%.2fx | %.3f |" % (
            t, statistics.median(r["portal"][t]["qps"] for r in rounds), statistics.median(ratios), min(ratios), max(ratios),
            rounds[0]["portal"][t]["recall"]))
    lines.append("")
    lines.append("ef=%d for every engine, %d alternating rounds, best of %d passes per round; single-thread queries." % (
        args.ef, len(rounds), args.runs))
    for t in traversals:
        loads = [r["portal"][t]["load_s"] for r in rounds]
        lines.append("portal %s: load %.2f s median (%.2f–%.2f); resident after load %d MiB, of which %d MiB file-mapped (median)." % (
            t, statistics.median(loads), min(loads), max(loads),
            statistics.median(r["portal"][t]["resident_mib"] for r in rounds),
            statistics.median(r["portal"][t]["file_mapped_mib"] for r in rounds)))
    if builds:
        ratios = [b["portal_s"] / b["faiss_s"] for b in builds]
        lines.append("build on %d threads, %d alternating rounds: portal %.1f s, FAISS %.1f s (medians); median ratio %.2fx (%.2fx–%.2fx)." % (
            args.threads, len(builds), statistics.median(b["portal_s"] for b in builds),
            statistics.median(b["faiss_s"] for b in builds), statistics.median(ratios), min(ratios), max(ratios)))
        lines.append("recall@10 at ef=%d right after each build: portal %s." % (args.ef, ", ".join("%.3f" % b["portal_recall"] for b in builds)))
        if args.baseline:
            ratios = [b["baseline_s"] / b["faiss_s"] for b in builds]
            gains = [b["baseline_s"] / b["portal_s"] for b in builds]
            lines.append("baseline %s in the same rounds: %.1f s median, median ratio to FAISS %.2fx (%.2fx–%.2fx); "
                         "baseline / portal %.2fx median (%.2fx–%.2fx); recall@10 %s." % (
                args.baseline, statistics.median(b["baseline_s"] for b in builds), statistics.median(ratios), min(ratios), max(ratios),
                statistics.median(gains), min(gains), max(gains), ", ".join("%.3f" % b["baseline_recall"] for b in builds)))
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "alternating.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "alternating.json"), "w") as f:
        json.dump({"rounds": rounds, "builds": builds, "ef": args.ef, "runs": args.runs}, f, indent=1)
    print(report)


if __name__ == "__main__":
    main()
