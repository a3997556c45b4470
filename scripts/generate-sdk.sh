#!/usr/bin/env bash
# Regenerates the SDK's generated code (Sources/PortalClient/Generated) from the committed
# API v1 document (Tests/WebTests/Snapshots/openapi-v1.json) with swift-openapi-generator, and
# records the document's SHA-256 beside it (PortalClientTests fails when the document changed
# and the code was not regenerated). Run it after committing a change to the v1 document.
#
# The code is generated here and committed rather than by the build plugin: building the
# generator (OpenAPIKit, Yams, swift-argument-parser) took 4 min 10 s on the 2-core
# development machine (release; the plugin builds it on every clean build, so every CI run
# would pay it), while the committed code and the OpenAPI runtime compile in under a minute
# (49.7 s for the PortalClient target from scratch, async-http-client already built).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${SDK_GENERATOR_DIR:-"${TMPDIR:-/tmp}/portal-openapi-generator"}
mkdir -p "$tool"
cat >"$tool/Package.swift" <<'SWIFT'
// swift-tools-version: 6.0
import PackageDescription
let package = Package(name: "generator", dependencies: [.package(url: "https://github.com/apple/swift-openapi-generator", exact: "1.14.3")], targets: [])
SWIFT
swift build --package-path "$tool" -c release --product swift-openapi-generator >/dev/null
document=Tests/WebTests/Snapshots/openapi-v1.json
"$tool/.build/release/swift-openapi-generator" generate --config Sources/PortalClient/openapi-generator-config.yaml \
    --output-directory Sources/PortalClient/Generated "$document"
sha256sum "$document" | cut -d' ' -f1 >Sources/PortalClient/Generated/openapi-v1.sha256
echo "Generated from $document ($(cat Sources/PortalClient/Generated/openapi-v1.sha256))."
