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
    memory = re.search(r"resident (\d+) MiB; raw vectors (\d+) MiB \+ links (\d+) MiB", text)
    return rows, build, load, memory


def main(folder):
    folder = Path(folder)
    first, build, _, memory = ours(folder / "portal-build.txt")
    second, _, load, _ = ours(folder / "portal-load.txt")
    peers = json.loads((folder / "peers.json").read_text())
    lines = ["| engine | ef | recall@10 | QPS, best of 3 | QPS, median of 3 | build |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, rows in (("portal (run 1, after build)", first), ("portal (run 2, after load)", second)):
        for r in rows:
            lines.append(f"| {label} | {r['ef']} | {r['recall']:.3f} | {r['best']} | {r['median']} | "
                         f"{float(build[1]):.1f} s, {build[2]} thr |")
    for p in peers:
        lines.append(f"| {p['engine']} {p['version']} | {p['ef']} | {p['recall']:.3f} | {int(p['qps'])} | | "
                     f"{p['build_s']:.1f} s, {p['build_threads']} thr |")
    notes = []
    if memory:
        resident, raw, links = map(int, memory.groups())
        notes.append(f"portal resident after build: {resident} MiB for {raw} MiB of vectors + {links} MiB of links "
                     f"= {resident / (raw + links):.2f}x")
    if load:
        notes.append(f"portal load after restart (from LMDB, no rebuild): {float(load[1]):.2f} s")
    table = "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"
    (folder / "table.md").write_text(table)
    print(table)

    plt.figure(figsize=(7, 4.5))
    for label, rows, style in (("portal", first, "o-"), ("portal (after load)", second, "o--")):
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
    plt.legend()
    plt.tight_layout()
    plt.savefig(folder / "recall_qps.png", dpi=120)


if __name__ == "__main__":
    main(sys.argv[1])
