#!/usr/bin/env bash
# Builds dist/portal_<version>_<arch>.deb (with dpkg-deb) and
# dist/portal-<version>-linux-<arch>.tar.gz from dist/portal, the sentence model beside it in
# dist/models/all-MiniLM-L6-v2 (make dist puts it there) and packaging/.
set -euo pipefail
version=$1 arch=$2 dist=$3
here=$(cd "$(dirname "$0")/.." && pwd)
binary="$dist/portal"
[ -x "$binary" ] || { echo "build-packages: $binary is missing; run make dist" >&2; exit 1; }
# `portal serve` does not start without the model, so no package is built without it.
model="$dist/models/all-MiniLM-L6-v2"
"$here/scripts/fetch-model.sh" --verify "$model" >/dev/null \
  || { echo "build-packages: the sentence model in $model is missing or damaged; run make dist" >&2; exit 1; }
model_files=("$model/model.safetensors" "$model/vocab.txt")

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
# The model where the binary looks first; each directory named so each is 0755 whatever the umask.
install -d -m 0755 "$root/usr/lib" "$root/usr/lib/portal" "$root/usr/lib/portal/models" \
  "$root/usr/lib/portal/models/all-MiniLM-L6-v2"
install -m 0644 "${model_files[@]}" "$root/usr/lib/portal/models/all-MiniLM-L6-v2/"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$here/packaging/debian/control.in" > "$root/DEBIAN/control"
# zstd, not xz: the model's 90 MB of float32 weights barely compress, and xz spent a minute on
# them for 1% less. dpkg-deb --build of the model alone (91,125,952 bytes uncompressed), on this
# 2-core build machine while other work ran (two runs each where given):
#   -Zxz (level 6)   60.4 s, 67.7 s   82,312,276 bytes
#   -Zxz -z1         55.0 s           83,137,144 bytes
#   -Zgzip (9)        8.6 s,  8.3 s   83,271,728 bytes
#   -Zgzip -z1        6.0 s           83,667,862 bytes
#   -Zzstd (3)        0.7 s,  0.7 s   83,174,638 bytes
#   -Zzstd -z19      54.9 s           82,992,212 bytes
# dpkg reads zstd since 1.21.18 upstream (Debian 12 has 1.21.22; Ubuntu's has longer), so every
# system meeting Depends: libc6 (>= 2.36) installs it. An archive tool that cannot read zstd
# members would need -Zgzip (8 s, 0.1% larger).
dpkg-deb --root-owner-group -Zzstd --build "$root" "$dist/portal_${version}_${arch}.deb" >/dev/null
echo "built $dist/portal_${version}_${arch}.deb"

# tarball
name="portal-$version-linux-$arch"
install -d "$work/$name"
install -m 0755 "$binary" "$work/$name/portal"
install -m 0644 "$here/packaging/portal.service" "$here/packaging/portal.toml" "$here/README.md" "$work/$name/"
# The tarball keeps the binary at its top (no bin/), so the model goes beside it in
# models/all-MiniLM-L6-v2: the `<executable's directory>/models/all-MiniLM-L6-v2` the binary
# looks in after /usr/lib/portal/models.
install -d -m 0755 "$work/$name/models" "$work/$name/models/all-MiniLM-L6-v2"
install -m 0644 "${model_files[@]}" "$work/$name/models/all-MiniLM-L6-v2/"
tar -C "$work" --owner=0 --group=0 -czf "$dist/$name.tar.gz" "$name"
echo "built $dist/$name.tar.gz"
