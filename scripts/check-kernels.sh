#!/usr/bin/env bash
# Disassembles the release build of the SIMD kernels (the vector index's and the sentence
# encoder's) and fails if any scalar `fmaf` call is left in them (SIMD.addingProduct lowers to
# one per lane) or if a module contains no fused multiply-add vector instruction at all (the
# x86-64-v3 flags did not reach its code).
set -euo pipefail
bin=$(swift build -c release --show-bin-path)

status=0
for module in Vector SentenceEncoder; do
  objects=$(find "$bin/$module.build" -name '*.o' 2>/dev/null | sort)
  [ -n "$objects" ] || { echo "check-kernels: no release objects under $bin/$module.build; run make dist" >&2; exit 1; }
  for object in $objects; do
    listing=$(objdump -d --no-show-raw-insn "$object")
    if grep -qE 'call.*<?fmaf' <<<"$listing" || nm -u "$object" | grep -qw fmaf; then
      echo "check-kernels: $object calls fmaf:" >&2
      grep -nE 'call.*fmaf' <<<"$listing" | head >&2 || true
      status=1
    fi
  done
  all=$(for object in $objects; do objdump -d --no-show-raw-insn "$object"; done)
  fma=$(grep -cE '\bvfmadd[0-9]+ps\b.*%ymm' <<<"$all" || true)
  avx=$(grep -cE '%ymm' <<<"$all" || true)
  if [ "$fma" -eq 0 ]; then
    echo "check-kernels: no vfmadd…ps on ymm registers in $module: the target was not compiled for x86-64-v3" >&2
    status=1
  else
    echo "check-kernels: $module: $fma vector FMA instructions, $avx ymm instructions, no fmaf calls"
  fi
done
[ $status -eq 0 ] && echo "check-kernels: ok"
exit $status
