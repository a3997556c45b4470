#!/usr/bin/env bash
# Installs what `make run` (`build`) or `make test` (`test`) needs and is missing, idempotently:
# Debian packages with apt-get, Python packages with pip. Safe to run again; does nothing when
# everything is present.
set -euo pipefail

profile=${1:-build}
build_packages=(liblmdb-dev libssl-dev zlib1g-dev)
test_packages=(
  libsqlite3-dev       # side-by-side storage benchmark
  chromium chromium-driver  # browser tests
  debootstrap          # runs the static binary in a bare Debian root
  qemu-user            # runs the binary on an emulated pre-AVX2 CPU
  binutils             # objdump for the kernel check
  curl dpkg-dev systemd
)
pip_packages=(selenium pytest requests cryptography)

packages=("${build_packages[@]}")
[ "$profile" = test ] && packages+=("${test_packages[@]}")

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$profile" = test ]; then
  missing_pip=()
  for package in "${pip_packages[@]}"; do
    python3 -m pip show -q "$package" >/dev/null 2>&1 || missing_pip+=("$package")
  done
  if [ ${#missing_pip[@]} -gt 0 ]; then
    echo "Installing Python packages: ${missing_pip[*]}"
    python3 -m pip install -q --disable-pip-version-check "${missing_pip[@]}"
  fi
fi
