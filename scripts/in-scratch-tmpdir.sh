#!/usr/bin/env bash
# Runs a command with TMPDIR set to a fresh directory and removes that directory afterwards,
# whatever the command's outcome, so a test run leaves no data directories, browser profiles
# or compiler files behind in /tmp. Exits with the command's status.
set -uo pipefail
scratch=$(mktemp -d "${TMPDIR:-/tmp}/portal-tests.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
TMPDIR="$scratch" "$@"
