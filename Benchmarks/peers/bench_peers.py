#!/usr/bin/env python3
"""The peer HNSW engines on TEXMEX files: FAISS (IndexHNSWFlat), hnswlib and USearch (f32),
each built with the same M and efConstruction, then swept over ef with single-thread
queries. Prints recall@k, queries per second (best of --runs passes over all queries) and
build time. `pip install numpy faiss-cpu hnswlib usearch` first.

  python3 Benchmarks/peers/bench_peers.py --data /tmp/vbig
  python3 Benchmarks/peers/bench_peers.py --data /tmp/vbig --engines faiss --efs 90 --build-threads 2 \
      --index-cache /tmp/valt/faiss-cache
  python3 Benchmarks/peers/bench_peers.py --data /tmp/vbig --score ids.ivecs

--data holds base.fvecs, query.fvecs and groundtruth.ivecs (make_synthetic.py beside this
file writes them). Every vector has unit norm, so each engine uses its inner-product metric.
--score FILE prints only the recall@k of the ids another program wrote (ivecs, one row per
query, nearest first), e.g. `portal bench vector --out`, so an engine without Python bindings
is scored exactly as the peers are. --index-cache DIR stores each built index there and
loads it on later runs with the same engine version, parameters and data; the build time
reported is then the one recorded when it was built.

Output, read by scripts/vector_alternating.py: '#' comment lines, a header, then one row per
engine and ef: engine, M, efC, ef, recall@k, QPS, build seconds. --json FILE writes the
same rows with more fields, read by scripts/vector_report.py.
"""
import argparse
import gc
import importlib.metadata
import json
import os
import sys
import time

import numpy as np


def read_vecs(path, dtype):
    """A TEXMEX file (.fvecs or .ivecs) as an (n, d) array of dtype."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        sys.exit("bench_peers: %s is empty" % path)
    d = int(raw[0])
    if raw.size % (d + 1) or not (raw.reshape(-1, d + 1)[:, 0] == d).all():
        sys.exit("bench_peers: %s is not a TEXMEX file (row lengths differ)" % path)
    return np.ascontiguousarray(raw.reshape(-1, d + 1)[:, 1:]).view(dtype)


def recall(ids, truth, k):
    """Share of each query's true k nearest found among its first k ids (-1 = no result)."""
    assert len(ids) == len(truth), "one row of ids per query"
    hits = sum(np.intersect1d(found[found >= 0], true).size for found, true in zip(ids[:, :k], truth[:, :k]))
    return hits / truth[:, :k].size


class Faiss:
    name, package = "faiss", "faiss-cpu"

    def __init__(self):
        import faiss
        self.faiss = faiss

    def build(self, X, M, efc, threads):
        self.faiss.omp_set_num_threads(threads)
        self.index = self.faiss.IndexHNSWFlat(X.shape[1], M, self.faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = efc
        self.index.add(X)
        self.faiss.omp_set_num_threads(1)

    def save(self, path):
        self.faiss.write_index(self.index, path)

    def load(self, path, X):
        self.index = self.faiss.read_index(path)
        self.faiss.omp_set_num_threads(1)

    def set_ef(self, ef):
        self.index.hnsw.efSearch = ef

    def search(self, Q, k):
        return self.index.search(Q, k)[1]


class Hnswlib:
    name, package = "hnswlib", "hnswlib"

    def __init__(self):
        import hnswlib
        self.hnswlib = hnswlib

    def build(self, X, M, efc, threads):
        self.index = self.hnswlib.Index(space="ip", dim=X.shape[1])
        self.index.init_index(max_elements=len(X), M=M, ef_construction=efc, random_seed=100)
        self.index.add_items(X, np.arange(len(X)), num_threads=threads)

    def save(self, path):
        self.index.save_index(path)

    def load(self, path, X):
        self.index = self.hnswlib.Index(space="ip", dim=X.shape[1])
        self.index.load_index(path, max_elements=len(X))

    def set_ef(self, ef):
        self.index.set_ef(ef)

    def search(self, Q, k):
        return self.index.knn_query(Q, k=k, num_threads=1)[0]


class Usearch:
    name, package = "usearch", "usearch"

    def __init__(self):
        from usearch.index import Index
        self.Index = Index

    def build(self, X, M, efc, threads):
        self.index = self.Index(ndim=X.shape[1], metric="ip", dtype="f32", connectivity=M, expansion_add=efc)
        self.index.add(np.arange(len(X), dtype=np.uint64), X, threads=threads)

    def save(self, path):
        self.index.save(path)

    def load(self, path, X):
        self.index = self.Index.restore(path)
        if self.index is None:
            sys.exit("bench_peers: %s is not a USearch index" % path)

    def set_ef(self, ef):
        self.index.expansion_search = ef

    def search(self, Q, k):
        return np.asarray(self.index.search(Q, k, threads=1).keys).reshape(len(Q), k).astype(np.int64)


ENGINES = {engine.name: engine for engine in (Faiss, Hnswlib, Usearch)}


def version_of(engine):
    try:
        return importlib.metadata.version(engine.package)
    except importlib.metadata.PackageNotFoundError:  # e.g. FAISS from conda or a source build
        return "unknown"


def data_tag(args):
    """Identifies the base vectors for --index-cache: their SHA-256 from manifest.json, else size and mtime."""
    try:
        with open(os.path.join(args.data, "manifest.json")) as f:
            return json.load(f)["files"][args.base]["sha256"][:12]
    except (OSError, KeyError, ValueError):
        status = os.stat(os.path.join(args.data, args.base))
        return "%d-%d" % (status.st_size, int(status.st_mtime))


def build_or_load(engine, X, args, version):
    """Returns (build seconds, build threads, whether the index came from --index-cache)."""
    cache = None
    if args.index_cache:
        os.makedirs(args.index_cache, exist_ok=True)
        cache = os.path.join(args.index_cache, "%s-%s-M%d-efc%d-n%d-d%d-%s" % (
            engine.name, version, args.M, args.efc, X.shape[0], X.shape[1], data_tag(args)))
        if os.path.exists(cache + ".json") and os.path.exists(cache + ".index"):
            engine.load(cache + ".index", X)
            with open(cache + ".json") as f:
                meta = json.load(f)
            print("# %s: loaded %s.index (built in %.1f s on %d threads)" % (
                engine.name, cache, meta["build_s"], meta["build_threads"]), flush=True)
            return meta["build_s"], meta["build_threads"], True
    start = time.perf_counter()
    engine.build(X, args.M, args.efc, args.build_threads)
    build_s = time.perf_counter() - start
    if cache:
        engine.save(cache + ".index")
        with open(cache + ".json", "w") as f:
            json.dump({"build_s": build_s, "build_threads": args.build_threads}, f)
    return build_s, args.build_threads, False


def timed_search(engine, Q, k, runs):
    """All queries in one call on one thread, best of runs; returns (ids, queries per second)."""
    engine.search(Q[:10], k)  # warm-up
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        ids = engine.search(Q, k)
        best = min(best, time.perf_counter() - start)
    return np.asarray(ids), len(Q) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder with the TEXMEX files")
    parser.add_argument("--base", default="base.fvecs", help="file in --data")
    parser.add_argument("--query", default="query.fvecs", help="file in --data")
    parser.add_argument("--gt", default="groundtruth.ivecs", help="file in --data")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, of: " + ", ".join(ENGINES))
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--efc", type=int, default=200, help="efConstruction")
    parser.add_argument("--efs", default="10,20,40,80,160", help="comma-separated ef values to sweep")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=3, help="query passes per ef; the best is reported")
    parser.add_argument("--nq", type=int, default=0, help="use only the first nq queries (0 = all)")
    parser.add_argument("--score", metavar="FILE", help="print the recall@k of the ids in this .ivecs file and exit")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--index-cache", metavar="DIR", help="store built indexes here and load them on later runs")
    args = parser.parse_args()

    truth = read_vecs(os.path.join(args.data, args.gt), np.int32)
    if truth.shape[1] < args.k:
        sys.exit("bench_peers: the ground truth has %d neighbours per query, fewer than --k %d" % (truth.shape[1], args.k))
    if args.score:
        ids = read_vecs(args.score, np.int32)
        if len(ids) > len(truth):
            sys.exit("bench_peers: %s has %d rows, the ground truth %d" % (args.score, len(ids), len(truth)))
        # A shorter file (the first queries only) is scored against their own ground truth.
        print("recall@%d = %.4f  (%d queries, %s)" % (args.k, recall(ids, truth[:len(ids)], args.k), len(ids), args.score))
        return

    names = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown:
        sys.exit("bench_peers: unknown engine %s (known: %s)" % (", ".join(unknown), ", ".join(ENGINES)))
    efs = [int(ef) for ef in args.efs.split(",")]
    start = time.perf_counter()
    X = read_vecs(os.path.join(args.data, args.base), np.float32)
    Q = read_vecs(os.path.join(args.data, args.query), np.float32)
    if args.nq:
        Q, truth = Q[:args.nq], truth[:args.nq]
    if Q.shape[1] != X.shape[1] or len(Q) != len(truth):
        sys.exit("bench_peers: base %s, queries %s and ground truth %s do not match" % (X.shape, Q.shape, truth.shape))
    print("# data %s: base %s, queries %s, ground truth %s, read in %.1f s" % (
        args.data, X.shape, Q.shape, truth.shape, time.perf_counter() - start))
    print("# M=%d efC=%d k=%d, build on %d threads; queries on 1 thread, best of %d passes; %d cores" % (
        args.M, args.efc, args.k, args.build_threads, args.runs, os.cpu_count()))
    header = "%-10s %4s %5s %5s %10s %10s %9s" % ("engine", "M", "efC", "ef", "recall@%d" % args.k, "QPS", "build_s")
    print(header + "\n" + "-" * len(header), flush=True)

    rows = []
    for name in names:
        try:
            engine = ENGINES[name]()
        except ImportError as error:
            sys.exit("bench_peers: %s is not installed (pip install %s): %s" % (name, ENGINES[name].package, error))
        version = version_of(engine)
        build_s, build_threads, cached = build_or_load(engine, X, args, version)
        for ef in efs:
            engine.set_ef(ef)
            ids, qps = timed_search(engine, Q, args.k, args.runs)
            r = recall(ids, truth, args.k)
            print("%-10s %4d %5d %5d %10.4f %10.1f %9.1f" % (name, args.M, args.efc, ef, r, qps, build_s), flush=True)
            rows.append({"engine": name, "version": version, "M": args.M, "efC": args.efc, "ef": ef,
                         "recall": round(r, 4), "qps": round(qps, 1), "build_s": round(build_s, 2),
                         "build_threads": build_threads, "build_cached": cached,
                         "n": X.shape[0], "d": X.shape[1], "nq": len(Q)})
        del engine  # free this index before the next engine builds
        gc.collect()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
