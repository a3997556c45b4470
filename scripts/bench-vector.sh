#!/usr/bin/env bash
# Side-by-side vector benchmark, in one session: portal's HNSW (float32 traversal, then int8
# traversal) against FAISS (IndexHNSWFlat), hnswlib and USearch on the same TEXMEX files with
# the same M and efConstruction, queries on one thread. Order: ours (build, store, queries, for
# each traversal), the peers (build, queries), ours again (load from storage, queries) so
# drift during the run shows. Writes its outputs, a Markdown
# table and a recall-vs-QPS plot to $OUT. Takes about 15 minutes per thread count on 2 cores.
# The data set ($DATA, made once) and the peers come from Benchmarks/peers/ ($PEERS).
#
#   scripts/bench-vector.sh                 # 1 build thread
#   THREADS=2 ENGINES=faiss scripts/bench-vector.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/tmp/vbig}
OUT=${OUT:-/tmp/vbench-t${THREADS:-1}}
THREADS=${THREADS:-1}
EFS=${EFS:-10,20,40,80,90,100,120,160}
ENGINES=${ENGINES:-faiss,hnswlib,usearch}
PEERS=${PEERS:-Benchmarks/peers}

python3 -m pip install --quiet faiss-cpu hnswlib usearch numpy matplotlib
[ -f "$DATA/base.fvecs" ] || python3 "$PEERS/make_synthetic.py" --out "$DATA"
swift build -c release --product portal
portal="$(swift build -c release --show-bin-path)/portal"
rm -rf "$OUT" && mkdir -p "$OUT"
common=(--base "$DATA/base.fvecs" --query "$DATA/query.fvecs" --gt "$DATA/groundtruth.ivecs" --M 16 --efc 200 --ef "$EFS" --runs 3)

for traversal in float32 int8; do
    "$portal" bench vector "${common[@]}" --threads "$THREADS" --traversal "$traversal" --data-dir "$OUT/portal-$traversal-data" \
        --out "$OUT/portal-$traversal.ivecs" | tee "$OUT/portal-$traversal-build.txt"
    python3 "$PEERS/bench_peers.py" --score "$OUT/portal-$traversal.ivecs" --data "$DATA" | tee "$OUT/portal-$traversal-score.txt"
done
python3 "$PEERS/bench_peers.py" --data "$DATA" --engines "$ENGINES" --M 16 --efc 200 --efs "$EFS" \
    --build-threads "$THREADS" --runs 3 --json "$OUT/peers.json" | tee "$OUT/peers.txt"
for traversal in float32 int8; do
    "$portal" bench vector "${common[@]}" --data-dir "$OUT/portal-$traversal-data" | tee "$OUT/portal-$traversal-load.txt"
done
python3 scripts/vector_report.py "$OUT"
