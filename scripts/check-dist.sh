#!/usr/bin/env bash
# Proves that dist/portal is one self-contained file:
#  1. ldd lists only glibc's own libraries and the C++ runtime;
#  2. it runs `portal version` and serves /healthz inside a bare Debian root (debootstrap
#     minbase: no Swift toolchain, no liblmdb, libssl or zlib), with the sentence model beside
#     it as in dist/ and the tarball (models/all-MiniLM-L6-v2 next to the binary);
#  3. on an emulated CPU without AVX2 it exits with the one-line CPU message, not SIGILL.
set -euo pipefail
binary=$(realpath "${1:-dist/portal}")
[ -x "$binary" ] || { echo "check-dist: $binary missing; run make dist" >&2; exit 1; }
fail() { echo "check-dist: $*" >&2; exit 1; }
scripts=$(dirname "$0")
# `portal serve` does not start without the model; make dist puts it beside the binary.
model="$(dirname "$binary")/models/all-MiniLM-L6-v2"
"$scripts/fetch-model.sh" --verify "$model" >/dev/null || fail "the sentence model beside $binary is missing or damaged; run make dist"

# debootstrap downloads with wget, which reads http_proxy and https_proxy but not apt's
# Acquire::http::Proxy and Acquire::https::Proxy. Prints apt's as `name=value` lines for `env`:
# its setting for the mirror's host if it has one, else its general one; nothing for DIRECT
# or where the environment already sets the variable.
apt_proxy_environment() {
  local host proxy scheme default specific
  host=$(sed -E 's|^[a-z]+://([^/@]*@)?([^/:]+).*|\2|' <<<"$1")
  for scheme in http https; do
    [ -z "$(printenv "${scheme}_proxy")" ] || continue
    default="" specific=""
    eval "$(apt-config shell default "Acquire::$scheme::Proxy" specific "Acquire::$scheme::Proxy::$host")"
    proxy=${specific:-$default}
    [ -z "$proxy" ] || [ "$proxy" = DIRECT ] || echo "${scheme}_proxy=$proxy"
  done
}

# 1. Shared-library dependencies.
allowed='^(linux-vdso\.so|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|ld-linux-x86-64\.so|libstdc\+\+\.so|libgcc_s\.so)'
echo "ldd $binary:"
ldd "$binary" | sed 's/^/  /'
unexpected=$(ldd "$binary" | awk '{print $1}' | sed 's|.*/||' | grep -vE "$allowed" || true)
[ -z "$unexpected" ] || fail "unexpected shared libraries: $unexpected"

# 2. A bare Debian root, cached between runs (outside the repository).
suite=bookworm
cache=${PORTAL_ROOTFS_CACHE:-/var/cache/portal-test}
rootfs="$cache/rootfs-$suite"
if [ ! -f "$rootfs/.complete" ]; then
  rm -rf "$rootfs"
  mkdir -p "$cache"
  # From the Debian archive apt here uses (a local mirror or proxy), or PORTAL_DEBIAN_MIRROR.
  mirror=${PORTAL_DEBIAN_MIRROR:-$("$scripts/debian-mirror.sh")} || fail "set PORTAL_DEBIAN_MIRROR to a Debian archive"
  mapfile -t proxies < <(apt_proxy_environment "$mirror")
  echo "check-dist: creating a minimal Debian $suite root in $rootfs from $(sed -E 's|//[^/@]*@|//|' <<<"$mirror") (once)"
  env "${proxies[@]}" debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; fail "debootstrap failed"; }
  touch "$rootfs/.complete"
fi
for library in liblmdb libcrypto libssl libz.so libswiftCore libFoundation; do
  if find "$rootfs/usr/lib" "$rootfs/lib" -name "$library*" 2>/dev/null | grep -q .; then
    [ "$library" = libz.so ] && continue  # zlib1g is Essential in Debian; the binary must not need it anyway
    fail "the test root unexpectedly has $library"
  fi
done
install -m 0755 "$binary" "$rootfs/usr/local/bin/portal"
# The model beside it, where the binary looks (<executable's directory>/models/...), replaced
# whole so nothing from an earlier run stays.
rm -rf "$rootfs/usr/local/bin/models"
install -d -m 0755 "$rootfs/usr/local/bin/models" "$rootfs/usr/local/bin/models/all-MiniLM-L6-v2"
install -m 0644 "$model/model.safetensors" "$model/vocab.txt" "$rootfs/usr/local/bin/models/all-MiniLM-L6-v2/"
# Without /proc the Swift runtime cannot read its command line: the binary must say so and
# stop, not fall through to its default command (serve).
umount "$rootfs/proc" 2>/dev/null || true
set +e
message=$(chroot "$rootfs" /usr/local/bin/portal version 2>&1)
status=$?
set -e
[ $status -eq 2 ] && grep -q '/proc' <<<"$message" || fail "without /proc: exit $status, output: $message"
# A real host has /proc.
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true' EXIT
version=$(chroot "$rootfs" /usr/local/bin/portal version)
echo "check-dist: in the bare root: $version"
[[ "$version" == "portal "* ]] || fail "unexpected version output: $version"

rm -rf "$rootfs/tmp/portal-data" "$rootfs/tmp/portal.out"
chroot "$rootfs" /usr/local/bin/portal serve --port 0 --data-dir /tmp/portal-data >"$rootfs/tmp/portal.out" 2>"$rootfs/tmp/portal.err" &
pid=$!
cleanup() { kill -TERM $pid 2>/dev/null || true; umount "$rootfs/proc" 2>/dev/null || true; }
trap cleanup EXIT
url=""
for _ in $(seq 1 300); do  # wait for the banner line, up to 30 s; polls a condition, not a fixed delay
  url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$rootfs/tmp/portal.out" | head -1 || true)
  [ -n "$url" ] && break
  kill -0 $pid 2>/dev/null || { cat "$rootfs/tmp/portal.err" >&2; fail "portal exited in the bare root"; }
  sleep 0.1
done
[ -n "$url" ] || fail "portal did not report a URL in the bare root"
health=$(curl -fsS "${url}healthz")
[ "$health" = '{"status":"ok"}' ] || fail "unexpected /healthz answer: $health"
echo "check-dist: /healthz in the bare root: $health"
kill -TERM $pid
wait $pid || fail "portal did not exit 0 on SIGTERM (status $?)"
umount "$rootfs/proc"
trap - EXIT

# 3. An old CPU (Nehalem: no AVX, AVX2 or FMA) under qemu user-mode emulation.
set +e
message=$(qemu-x86_64 -cpu Nehalem "$binary" version 2>&1)
status=$?
set -e
[ $status -eq 3 ] || fail "on a Nehalem CPU portal exited with $status, expected 3: $message"
grep -q 'x86-64-v3' <<<"$message" || fail "on a Nehalem CPU the message does not name x86-64-v3: $message"
[ "$(wc -l <<<"$message")" -eq 1 ] || fail "the CPU message is not one line: $message"
echo "check-dist: on an emulated Nehalem CPU: $message"
# Control: the same emulator with every feature it has (AVX2 and FMA included) runs it.
qemu-x86_64 -cpu max "$binary" version 2>/dev/null | grep -q '^portal ' || fail "under qemu -cpu max the binary did not run"
echo "check-dist: ok"
