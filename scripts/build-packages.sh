#!/usr/bin/env bash
# Builds dist/portal_<version>_<arch>.deb (with dpkg-deb) and
# dist/portal-<version>-linux-<arch>.tar.gz from dist/portal and packaging/.
set -euo pipefail
version=$1 arch=$2 dist=$3
here=$(cd "$(dirname "$0")/.." && pwd)
binary="$dist/portal"
[ -x "$binary" ] || { echo "build-packages: $binary is missing; run make dist" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# .deb
root="$work/deb"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/portal" "$root/lib/systemd/system" "$root/usr/share/doc/portal"
install -m 0755 "$binary" "$root/usr/bin/portal"
install -m 0640 "$here/packaging/portal.toml" "$root/etc/portal/portal.toml"
install -m 0644 "$here/packaging/portal.service" "$root/lib/systemd/system/portal.service"
install -m 0644 "$here/README.md" "$root/usr/share/doc/portal/README.md"
install -m 0644 "$here/packaging/debian/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$here/packaging/debian/$script" "$root/DEBIAN/$script"
done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$here/packaging/debian/control.in" > "$root/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$root" "$dist/portal_${version}_${arch}.deb" >/dev/null
echo "built $dist/portal_${version}_${arch}.deb"

# tarball
name="portal-$version-linux-$arch"
install -d "$work/$name"
install -m 0755 "$binary" "$work/$name/portal"
install -m 0644 "$here/packaging/portal.service" "$here/packaging/portal.toml" "$here/README.md" "$work/$name/"
tar -C "$work" --owner=0 --group=0 -czf "$dist/$name.tar.gz" "$name"
echo "built $dist/$name.tar.gz"
