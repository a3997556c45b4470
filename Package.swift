// swift-tools-version: 6.1
import PackageDescription

/// One set of Swift settings for every target (see STYLE.md).
let sharedSwiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The vector kernels are compiled for x86-64-v3 (AVX2 + FMA). swiftc takes its code-generation
/// target features from the Clang importer, so `-Xcc -march` is what reaches the SIMD code.
/// The binary checks the CPU before any of this code runs (see `CPUFeatures`).
/// Debug builds optimize it too: an unoptimized SIMD kernel is ~100x slower, which would make
/// the recall tests crawl.
let vectorSwiftSettings = sharedSwiftSettings + [
    .unsafeFlags(["-Xcc", "-march=x86-64-v3"], .when(platforms: [.linux])),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

/// `make dist` links the executable with the Swift runtime inside (PORTAL_STATIC_LINK=1). It is
/// a link setting, not `--static-swift-stdlib`, because that flag also changes every compile
/// command: this way the release build that ran the tests is the one shipped, linked again.
/// (Declared before `package`: a manifest's globals are set in order.)
let staticSwiftRuntime: [LinkerSetting] =
    Context.environment["PORTAL_STATIC_LINK"] == "1" ? [.unsafeFlags(["-static-stdlib", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-l_FoundationCShims"], .when(platforms: [.linux], configuration: .release))] : []

let package = Package(
    name: "portal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "portal", targets: ["Appliance"]),
        // The Swift SDK for API v1 (generated from its OpenAPI document, plus helpers).
        .library(name: "PortalClient", targets: ["PortalClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // System libraries. Their module maps do not autolink: `make dist` links the static
        // archives, debug builds link the shared objects (see linkerSettings below).
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CPUFeatures", path: "Sources/CPUFeatures"),
        .target(name: "CVectorSupport", path: "Sources/CVectorSupport"),
        .target(name: "CSpawn", path: "Sources/CSpawn"),

        .target(
            name: "KV",
            dependencies: ["CLMDB", "CZlib", "CCrypto"],
            // Lets callers specialize the generic table operations (measured: see Benchmarks/README.md).
            swiftSettings: sharedSwiftSettings + [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))],
            linkerSettings: staticOrSharedLibraries(["lmdb", "z", "crypto"])
        ),
        .target(
            name: "Vector",
            dependencies: ["CVectorSupport"],
            swiftSettings: vectorSwiftSettings
        ),
        // The built-in sentence encoder (all-MiniLM-L6-v2): its kernels are compiled like the vector
        // index's.
        .target(
            name: "SentenceEncoder",
            swiftSettings: vectorSwiftSettings
        ),
        .target(
            name: "Portal",
            dependencies: [
                "KV", "Vector", "CCrypto", "CSpawn", "SentenceEncoder",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [
                .embedInCode("Tools/Packs/host.json"),
                .embedInCode("Tools/Packs/oci.json"),
                .embedInCode("Tools/MCPTemplates.json"),
                .embedInCode("Workflows/workflow.schema.json"),
                .embedInCode("Workflows/WorkflowTemplates.json"),
            ],
            swiftSettings: sharedSwiftSettings
        ),
        .target(
            name: "Web",
            dependencies: [
                "Portal", "Vector", "KV",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [
                // The whole web client tree; `UIFiles` lists it (a test checks the list).
                .embedInCode("UI"),
            ],
            swiftSettings: sharedSwiftSettings
        ),
        .executableTarget(
            name: "Appliance",
            dependencies: [
                "Web", "Portal", "KV", "Vector", "CPUFeatures", "SentenceEncoder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: sharedSwiftSettings,
            linkerSettings: staticSwiftRuntime
        ),

        // The SDK depends on nothing of the server: an SDK user links the OpenAPI runtime, its
        // HTTP client and swift-crypto only.
        .target(
            name: "PortalClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            exclude: ["openapi-generator-config.yaml", "Generated/openapi-v1.sha256"],
            swiftSettings: sharedSwiftSettings
        ),

        // Helpers shared by the web and process-level tests (a raw HTTP client).
        .target(name: "TestSupport", dependencies: ["Portal", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                   .product(name: "Logging", package: "swift-log")],
                path: "Tests/Support", swiftSettings: sharedSwiftSettings),
        .testTarget(name: "KVTests", dependencies: ["KV"], swiftSettings: sharedSwiftSettings),
        .testTarget(name: "VectorTests", dependencies: ["Vector"], swiftSettings: vectorSwiftSettings),
        .testTarget(name: "SentenceEncoderTests", dependencies: ["SentenceEncoder"], exclude: ["reference.py"], swiftSettings: sharedSwiftSettings),
        .testTarget(name: "PortalTests", dependencies: ["Portal", "KV", "Vector", "TestSupport"], swiftSettings: sharedSwiftSettings),
        .testTarget(
            name: "WebTests",
            dependencies: [
                "Web", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: sharedSwiftSettings
        ),
        // ApplianceTests drive the real binary, the SDK's tests among them.
        .testTarget(name: "ApplianceTests", dependencies: ["Appliance", "KV", "Portal", "Vector", "TestSupport", "PortalClient"], swiftSettings: sharedSwiftSettings),

        .systemLibrary(name: "CSQLite", path: "Benchmarks/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .executableTarget(
            name: "KVBenchmarks",
            dependencies: ["KV", "CLMDB", "CSQLite", .product(name: "Benchmark", package: "package-benchmark")],
            path: "Benchmarks/KVBenchmarks",
            swiftSettings: sharedSwiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "EncoderBenchmark",
            dependencies: ["SentenceEncoder"],
            path: "Benchmarks/EncoderBenchmark",
            swiftSettings: sharedSwiftSettings
        ),
        .executableTarget(
            name: "VectorBenchmarks",
            dependencies: ["Vector", .product(name: "Benchmark", package: "package-benchmark")],
            path: "Benchmarks/VectorBenchmarks",
            swiftSettings: vectorSwiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)

/// Release builds link the static archives (`-l:libX.a`) so that `make dist` yields one file
/// that runs without liblmdb, libssl or zlib installed; debug builds link the shared objects.
func staticOrSharedLibraries(_ names: [String]) -> [LinkerSetting] {
    names.flatMap { name -> [LinkerSetting] in
        [
            .linkedLibrary(name, .when(configuration: .debug)),
            .unsafeFlags(["-Xlinker", "-l:lib\(name).a"], .when(platforms: [.linux], configuration: .release)),
        ]
    }
}
