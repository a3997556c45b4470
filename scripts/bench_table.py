"""Reads package-benchmark's text output and prints each benchmark's median wall-clock time,
then the ratios the storage issue asks for (all from the same run)."""
import re
import sys

UNITS = {"ns": 1e-9, "μs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def medians(text):
    result, name = {}, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("│", "╒", "╞", "├", "╘", "=")) and "│" not in stripped:
            name = stripped
        match = re.match(r"│ Time \(wall clock\) \((\S+)\) \*?\s*│([^│]+)│([^│]+)│([^│]+)│", stripped)
        if match and name:
            unit, p50 = match.group(1), float(match.group(4).strip().replace(",", ""))
            result[name] = p50 * UNITS[unit]
    return result


def main(path):
    times = medians(open(path, encoding="utf-8").read())
    print("| benchmark | median per iteration | per second |")
    print("| --- | ---: | ---: |")
    for name, seconds in times.items():
        print(f"| {name} | {seconds * 1e6:,.2f} µs | {1 / seconds:,.0f} |")

    def ratio(a, b):
        return times[a] / times[b] if a in times and b in times else float("nan")

    single = times.get("durable write: KV typed, 1 writer")
    print()
    print(f"- typed get / raw LMDB get: {ratio('get: KV typed', 'get: LMDB raw'):.2f}x (target <= 1.5x)")
    print(f"- typed 1000-row scan / raw LMDB scan: {ratio('scan 1000: KV typed', 'scan 1000: LMDB raw'):.2f}x")
    for writers in (8, 64):
        key = f"group commit: KV typed, {writers} writers (per {writers} writes)"
        if key in times and single:
            print(f"- group commit, {writers} writers: {writers / times[key]:,.0f} durable writes/s = "
                  f"{(writers / times[key]) * single:.1f}x one transaction per write (target at 64: >= 10x)")
    if single and "durable write: SQLite WAL FULL" in times:
        print(f"- durable single write, KV vs SQLite WAL FULL: {times['durable write: SQLite WAL FULL'] / single:.2f}x SQLite's rate (target >= 1x)")
        key = "group commit: KV typed, 64 writers (per 64 writes)"
        if key in times:
            print(f"- KV at 64 writers vs SQLite single writer: {(64 / times[key]) * times['durable write: SQLite WAL FULL']:.1f}x")


if __name__ == "__main__":
    main(sys.argv[1])
