#!/usr/bin/env bash
# Runs a command with TMPDIR set to a fresh directory and removes that directory afterwards,
# whatever the command's outcome, so test runs leave no data directories or browser profiles
# behind in /tmp. Exits with the command's status.
set -uo pipefail
scratch=$(mktemp -d "${TMPDIR:-/tmp}/portal-tests.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
TMPDIR="$scratch" "$@"
