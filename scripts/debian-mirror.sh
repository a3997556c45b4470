#!/usr/bin/env bash
# Prints the address of the main Debian archive that apt on this machine uses for the running
# release (the suite named after its codename: not -security, not -updates), so debootstrap
# fetches from the same local mirror or proxy as apt does. apt itself reads the sources
# (`apt-get indextargets`), so both formats work exactly as they do for apt: one-line
# `deb [options] URI SUITE COMPONENT...` entries in sources.list and sources.list.d/*.list,
# and deb822 stanzas (Types:, URIs:, Suites:, Components:, Enabled:) in
# sources.list.d/*.sources. The first match in apt's reading order wins.
#
#   scripts/debian-mirror.sh                            # the URI, with a trailing slash
#   APT_SOURCES_DIR=/tmp/apt scripts/debian-mirror.sh   # reads /tmp/apt/sources.list and
#                                                       # /tmp/apt/sources.list.d/ instead
set -euo pipefail
fail() { echo "debian-mirror: $*" >&2; exit 1; }

codename=$(. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}") || true
[ -n "$codename" ] || fail "/etc/os-release does not name a Debian release with a codename"
apt=(apt-get)
if [ -n "${APT_SOURCES_DIR:-}" ]; then
  [ -d "$APT_SOURCES_DIR" ] || fail "APT_SOURCES_DIR $APT_SOURCES_DIR is not a directory"
  apt+=(-o "Dir::Etc::sourcelist=$APT_SOURCES_DIR/sources.list" -o "Dir::Etc::sourceparts=$APT_SOURCES_DIR/sources.list.d")
fi

# apt lists the indexes its sources configure, in the order it reads the sources. First those
# whose Release file it has fetched: they carry their codename and origin, which recognises a
# suite written as an alias ("oldstable") and passes over another vendor's "bookworm main".
# Then every index from the sources alone (no `apt-get update` needed), by suite name, origin
# unknown.
targets=$("${apt[@]}" indextargets --format '$(TARGET_OF)|$(COMPONENT)|$(REPO_URI)|$(CODENAME)|$(ORIGIN)' &&
          "${apt[@]}" indextargets --no-release-info --format '$(TARGET_OF)|$(COMPONENT)|$(REPO_URI)|$(RELEASE)|') \
  || fail "apt-get indextargets failed"
mirror=$(awk -F'|' -v codename="$codename" '!found && $1 == "deb" && $2 == "main" && $4 == codename &&
  ($5 == "Debian" || $5 == "") { print $3; found = 1 }' <<<"$targets")
[ -n "$mirror" ] || fail "no enabled 'deb <URI> $codename main' source in apt's configuration"

# Cloud images point apt at a list of mirrors (mirror+file:), which debootstrap cannot read:
# take the list's first address.
if [[ $mirror == mirror+file:* ]]; then
  list=${mirror#mirror+file:}
  mirror=$(awk '!/^#/ && NF { print $1; exit }' "${list%/}") || fail "cannot read the mirror list ${list%/}"
fi
[[ $mirror =~ ^(https?|file): ]] || fail "debootstrap cannot fetch from $mirror"
echo "$mirror"
