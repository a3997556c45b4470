#!/usr/bin/env python3
"""Writes a synthetic, embedding-like vector data set in the TEXMEX format, for
scripts/bench-vector.sh and bench_peers.py beside this file.

  python3 Benchmarks/peers/make_synthetic.py --out /tmp/vbig          # 100,000 x 1536, 1,000 queries
  python3 Benchmarks/peers/make_synthetic.py --out /tmp/vtiny --n 2000 --nq 50 --dim 64

Points come from a mixture of --clusters Gaussians in a --latent-dimensional subspace,
rotated into --dim dimensions by a random orthonormal basis, plus a little isotropic noise,
then scaled to unit norm: clustered and of low intrinsic dimension, like text embeddings, so
HNSW at M=16 needs about the ef it needs on real sentence embeddings. Queries come from the
same mixture and are not in the base set. The ground truth is the exact top 100 of each query
by inner product (= cosine), computed in float64 (about 2 GB of memory at the default size).

Files: base.fvecs and query.fvecs (per vector: int32 dimension, then float32 values),
groundtruth.ivecs (per query: int32 100, then 100 int32 ids, nearest first), manifest.json
(the options and each file's SHA-256). The same options and --seed give the same files.
Write them to /tmp or another folder outside the repository.
"""
import argparse
import hashlib
import json
import os

import numpy as np

BATCH = 50_000  # base vectors drawn per call; part of how the seed's stream is consumed
TRUTH_K = 100


def write_vecs(path, rows):
    """TEXMEX layout: each row is its int32 length followed by its float32 or int32 values."""
    n, d = rows.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = rows.view(np.int32)
    out.tofile(path)


def draw(rng, n, centers, basis, spread, noise):
    """n unit vectors: a cluster centre plus Gaussian spread in the latent space, rotated, plus noise."""
    latent = centers[rng.integers(0, len(centers), size=n)]
    latent = latent + rng.standard_normal((n, centers.shape[1])).astype(np.float32) * spread
    x = latent @ basis + rng.standard_normal((n, basis.shape[1])).astype(np.float32) * noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def exact_top(base, queries, k):
    """Ids of each query's k largest inner products, largest first (float64, 100 queries at a time)."""
    base64 = base.astype(np.float64)
    truth = np.empty((len(queries), k), dtype=np.int32)
    for start in range(0, len(queries), 100):
        sims = queries[start:start + 100].astype(np.float64) @ base64.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        truth[start:start + 100] = np.take_along_axis(top, order, axis=1)
    return truth


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write into (outside the repository)")
    parser.add_argument("--n", type=int, default=100_000, help="base vectors")
    parser.add_argument("--nq", type=int, default=1_000, help="queries")
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--latent", type=int, help="dimension of the subspace the clusters live in (384, at most --dim)")
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--noise", type=float, default=0.01, help="isotropic noise added in all --dim dimensions")
    parser.add_argument("--spread", type=float, default=1.0, help="within-cluster spread relative to the centres' scale")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.latent = args.latent or min(384, args.dim)
    if args.latent > args.dim:
        parser.error("--latent must not exceed --dim")
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    centers = rng.standard_normal((args.clusters, args.latent)).astype(np.float32)
    basis, _ = np.linalg.qr(rng.standard_normal((args.dim, args.latent)))
    basis = basis.T.astype(np.float32)  # latent x dim, orthonormal rows
    base = np.concatenate([draw(rng, min(BATCH, args.n - start), centers, basis, args.spread, args.noise)
                           for start in range(0, args.n, BATCH)])
    queries = draw(rng, args.nq, centers, basis, args.spread, args.noise)
    truth = exact_top(base, queries, min(TRUTH_K, args.n))

    files = {"base.fvecs": base, "query.fvecs": queries, "groundtruth.ivecs": truth}
    for name, rows in files.items():
        write_vecs(os.path.join(args.out, name), rows)
    manifest = {"n": args.n, "nq": args.nq, "dim": args.dim, "metric": "cosine", "latent": args.latent,
                "clusters": args.clusters, "noise": args.noise, "spread": args.spread, "seed": args.seed,
                "gt_k": truth.shape[1], "files": {name: {"sha256": sha256(os.path.join(args.out, name))} for name in files}}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote %s: base %s, queries %s, ground truth %s" % (args.out, base.shape, queries.shape, truth.shape))


if __name__ == "__main__":
    main()
