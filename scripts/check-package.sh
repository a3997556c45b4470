#!/usr/bin/env bash
# Checks the .deb and the tarball: contents (the sentence model included), control fields,
# conffiles, the unit's hardening, `systemd-analyze verify`, and a real install, upgrade-in-place
# and purge inside the bare Debian root that check-dist.sh made.
set -euo pipefail
deb=$(realpath "$1") tarball=$(realpath "$2")
fail() { echo "check-package: $*" >&2; exit 1; }
scripts=$(dirname "$0")
# Where the package installs the sentence model (the first place the binary looks).
model=/usr/lib/portal/models/all-MiniLM-L6-v2
model_files=(model.safetensors vocab.txt)

contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/portal ./etc/portal/portal.toml ./lib/systemd/system/portal.service ./usr/share/doc/portal/README.md; do
  grep -q " $path\$" <<<"$contents" || fail "$path is not in the package"
done
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/portal$' <<<"$contents" || fail "/usr/bin/portal is not root-owned 0755"
grep -qE "^drwxr-xr-x root/root .* \.$model/\$" <<<"$contents" || fail "$model is not in the package as a root-owned 0755 directory"
for file in "${model_files[@]}"; do
  grep -qE "^-rw-r--r-- root/root .* \.$model/$file\$" <<<"$contents" || fail "$model/$file is not in the package as a root-owned 0644 file"
done
[ "$(dpkg-deb -f "$deb" Package)" = portal ] || fail "Package field"
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "Architecture field"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/portal/portal.toml || fail "portal.toml is not a conffile"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
unit="$work/root/lib/systemd/system/portal.service"
for directive in 'User=portal' 'StateDirectory=portal' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
                 'PrivateTmp=yes' 'Restart=on-failure' 'ProtectHome=yes' 'CapabilityBoundingSet='; do
  grep -qx "$directive" "$unit" || fail "the unit lacks $directive"
done
command -v systemd-analyze >/dev/null \
  || fail "systemd-analyze is missing, so the unit cannot be verified; install the systemd package (scripts/install-deps.sh test)"
# --root makes ExecStart= resolve inside the unpacked package; the host's own units supply
# the targets the unit names. verify exits 0 on unknown keys, so any output is a failure.
cp -an /lib/systemd/system/. "$work/root/lib/systemd/system/"
systemd-analyze verify --root="$work/root" /lib/systemd/system/portal.service >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log" >&2; fail "systemd-analyze verify failed"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify reported problems"; }
echo "check-package: systemd-analyze verify: ok"

tar -tzf "$tarball" | sort > "$work/tar.txt"
for file in portal portal.service portal.toml README.md; do
  grep -q "/$file\$" "$work/tar.txt" || fail "$file is not in the tarball"
done
# The tarball's binary is at its top, so the model must be beside it, in models/ (the
# `<executable's directory>/models/all-MiniLM-L6-v2` the binary looks in), with the right sums.
top=$(sed -n 's|^\([^/]*\)/portal$|\1|p' "$work/tar.txt" | head -1)
[ -n "$top" ] || fail "the tarball's portal binary is not in its top directory"
for file in "${model_files[@]}"; do
  grep -qx "$top/models/all-MiniLM-L6-v2/$file" "$work/tar.txt" || fail "models/all-MiniLM-L6-v2/$file is not beside portal in the tarball"
done
mkdir "$work/tarball"
tar -C "$work/tarball" -xzf "$tarball" "$top/models"
"$scripts/fetch-model.sh" --verify "$work/tarball/$top/models/all-MiniLM-L6-v2" >/dev/null \
  || fail "the tarball's model does not match its SHA-256 sums"

# Install, reinstall and purge in the bare Debian root (no systemd running there).
rootfs=${PORTAL_ROOTFS_CACHE:-/var/cache/portal-test}/rootfs-bookworm
[ -f "$rootfs/.complete" ] || fail "no test root at $rootfs; run scripts/check-dist.sh first"
cp "$deb" "$rootfs/tmp/portal.deb"
mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
chroot "$rootfs" dpkg --purge portal >/dev/null 2>&1 || true
chroot "$rootfs" dpkg -i /tmp/portal.deb >/dev/null || fail "dpkg -i failed"
chroot "$rootfs" getent passwd portal | grep -q ':/var/lib/portal:/usr/sbin/nologin$' || fail "the portal user was not created"
[ "$(chroot "$rootfs" stat -c '%U:%G %a' /etc/portal/portal.toml)" = "root:portal 640" ] || fail "portal.toml is not root:portal 0640"
chroot "$rootfs" /usr/bin/portal version | grep -q '^portal ' || fail "installed binary does not run"
"$scripts/fetch-model.sh" --verify "$rootfs$model" >/dev/null || fail "the installed model in $model does not match its SHA-256 sums"
for file in "${model_files[@]}"; do
  [ "$(chroot "$rootfs" stat -c '%U:%G %a' "$model/$file")" = "root:root 644" ] || fail "the installed $model/$file is not root:root 0644"
done
chroot "$rootfs" /usr/bin/portal config --config /etc/portal/portal.toml >/dev/null || fail "the shipped portal.toml is rejected"
echo '# edited by the administrator' >> "$rootfs/etc/portal/portal.toml"
chroot "$rootfs" dpkg -i --force-confold /tmp/portal.deb >/dev/null || fail "reinstall failed"
grep -q 'edited by the administrator' "$rootfs/etc/portal/portal.toml" || fail "reinstall overwrote the edited conffile"
chroot "$rootfs" dpkg --purge portal >/dev/null 2>&1 || fail "purge failed"
# getent exits 2 when the user is not there; any other failure means the check did not run.
status=0
chroot "$rootfs" getent passwd portal >/dev/null || status=$?
[ $status -ne 0 ] || fail "purge left the portal user"
[ $status -eq 2 ] || fail "getent in the test root failed with status $status"
[ ! -e "$rootfs/usr/bin/portal" ] || fail "purge left /usr/bin/portal"
[ ! -e "$rootfs$model" ] || fail "purge left $model"
[ ! -e "$rootfs/usr/lib/portal" ] || fail "purge left /usr/lib/portal"
echo "check-package: ok ($(basename "$deb"), $(basename "$tarball"))"
