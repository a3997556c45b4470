"""Turns one scripts/bench-vector.sh run into a Markdown table (stdout, and table.md) and a
recall-vs-QPS plot (recall_qps.png) in the run's folder."""
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LINE = re.compile(r"ef=(\d+): (\d+) QPS median, (\d+) best of \d+, recall@10 ([0-9.]+)")


def ours(path):
    text = path.read_text()
    rows = [dict(ef=int(m[1]), median=int(m[2]), best=int(m[3]), recall=float(m[4])) for m in LINE.finditer(text)]
    build = re.search(r"build: .* in ([0-9.]+) s on (\d+) thread", text)
    load = re.search(r"load: .* in ([0-9.]+) s", text)
    memory = re.search(r"resident (\d+) MiB(?: \([^)]*\))?; raw vectors (\d+) MiB \+ links (\d+) MiB(?: \+ int8 codes (\d+) MiB)?", text)
    return rows, build, load, memory


def first_at(rows, recall=0.95):
    """The row of the smallest ef whose recall reaches `recall`, or None."""
    return next((r for r in sorted(rows, key=lambda r: r["ef"]) if r["recall"] >= recall), None)


def main(folder):
    folder = Path(folder)
    runs = {}  # label -> (rows, build match of that traversal's build run)
    memories, loads = {}, {}  # traversal -> memory line of the build run, load line of the load run
    for traversal in ("float32", "int8"):
        rows, build, _, memories[traversal] = ours(folder / f"portal-{traversal}-build.txt")
        runs[f"portal {traversal} (after build)"] = (rows, build)
        rows, _, loads[traversal], _ = ours(folder / f"portal-{traversal}-load.txt")
        runs[f"portal {traversal} (after load)"] = (rows, build)
    peers = json.loads((folder / "peers.json").read_text())
    lines = ["| engine | ef | recall@10 | QPS, best of 3 | QPS, median of 3 | build |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, (rows, build) in runs.items():
        for r in rows:
            lines.append(f"| {label} | {r['ef']} | {r['recall']:.3f} | {r['best']} | {r['median']} | "
                         f"{float(build[1]):.1f} s, {build[2]} thr |")
    for p in peers:
        lines.append(f"| {p['engine']} {p['version']} | {p['ef']} | {p['recall']:.3f} | {int(p['qps'])} | | "
                     f"{p['build_s']:.1f} s, {p['build_threads']} thr |")

    # The issue's comparison: each engine at its smallest ef reaching recall@10 >= 0.95.
    summary = ["", "| at recall@10 ≥ 0.95 | ef | recall@10 | QPS, best of 3 | vs FAISS | build | vs FAISS |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    faiss = [p for p in peers if p["engine"] == "faiss"]
    faiss_row = first_at([dict(ef=p["ef"], recall=p["recall"], best=int(p["qps"]), median=None) for p in faiss]) if faiss else None
    faiss_build = faiss[0]["build_s"] if faiss else None
    entries = [(label, first_at(rows), float(build[1])) for label, (rows, build) in runs.items()]
    for engine in sorted({p["engine"] for p in peers}):
        rows = [dict(ef=p["ef"], recall=p["recall"], best=int(p["qps"]), median=None) for p in peers if p["engine"] == engine]
        entries.append((engine, first_at(rows), next(p["build_s"] for p in peers if p["engine"] == engine)))
    for label, row, build_s in entries:
        if row is None:
            summary.append(f"| {label} | — | below 0.95 | | | {build_s:.1f} s | |")
            continue
        qps_ratio = f"{row['best'] / faiss_row['best']:.2f}x" if faiss_row else ""
        build_ratio = f"{build_s / faiss_build:.2f}x" if faiss_build else ""
        summary.append(f"| {label} | {row['ef']} | {row['recall']:.3f} | {row['best']} | {qps_ratio} | {build_s:.1f} s | {build_ratio} |")

    notes = []
    for traversal, memory in memories.items():
        if memory:
            resident, raw, links = map(int, memory.groups()[:3])
            codes = int(memory[4] or 0)
            notes.append(f"portal {traversal} resident after build: {resident} MiB for {raw} MiB of vectors "
                         f"+ {links} MiB of links" + (f" + {codes} MiB of codes" if codes else "")
                         + f" = {resident / (raw + links):.2f}x (vectors + links)")
    for traversal, load in loads.items():
        if load:
            notes.append(f"portal {traversal} load after restart (from LMDB, no rebuild): {float(load[1]):.2f} s")
    table = "\n".join(lines + summary + [""] + [f"- {n}" for n in notes]) + "\n"
    (folder / "table.md").write_text(table)
    print(table)

    plt.figure(figsize=(7, 4.5))
    for label, (rows, _) in runs.items():
        style = ("o" if "float32" in label else "^") + ("-" if "after build" in label else "--")
        plt.plot([r["recall"] for r in rows], [r["best"] for r in rows], style, label=label)
    for engine in sorted({p["engine"] for p in peers}):
        rows = [p for p in peers if p["engine"] == engine]
        plt.plot([p["recall"] for p in rows], [p["qps"] for p in rows], "s-", label=engine)
    plt.axvline(0.95, color="grey", linewidth=0.8, linestyle=":")
    plt.yscale("log")
    plt.xlabel("recall@10")
    plt.ylabel("queries per second, 1 thread (best of 3)")
    plt.title("100,000 x 1536, M=16, efConstruction=200")
    plt.grid(True, which="both", alpha=0.3)
    plt.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(folder / "recall_qps.png", dpi=120)


if __name__ == "__main__":
    main(sys.argv[1])
