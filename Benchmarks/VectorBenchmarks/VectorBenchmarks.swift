import Benchmark
import Vector
#if canImport(Glibc)
import Glibc
#endif

/// A floor a benchmark's setup checks: missing it ends the process with status 1 (the
/// benchmark runner swallows a setup error when run straight, as `make bench-short` does), so a
/// regression fails `make test` instead of only slowing it.
func floorMissed(_ description: String) -> Never {
    print("floor missed: \(description)")
    exit(1)
}

/// Distance-kernel micro-benchmarks at the portal's default dimension (1536), SIMD vs the
/// scalar reference, so the ratio is measured in one run; and HNSW search on a small
/// clustered set (the full-size comparison with peers is `scripts/bench-vector.sh`). Two
/// floors: the SIMD dot product is at least 4x the scalar reference (13x and 18x in two runs), and
/// the small search's recall@10 is at least 0.95.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 10_000_000)

    let dimension = 1536
    var generator = SystemRandomNumberGenerator()
    let a = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
    let b = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }

    typealias Kernel = @Sendable (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) -> Float
    let kernels: [(name: String, kernel: Kernel)] = [
        ("dot 1536 SIMD", Distance.dot),
        ("dot 1536 scalar reference", Distance.Reference.dot),
        ("squared L2 1536 SIMD", Distance.squaredL2),
        ("squared L2 1536 scalar reference", Distance.Reference.squaredL2),
    ]
    for (name, kernel) in kernels {
        Benchmark(name) { benchmark in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for _ in benchmark.scaledIterations { blackHole(kernel(pa, pb)) }
                }
            }
        }
    }

    // The floor: medians of 15 alternating batches of each kernel, so both see the same noise.
    Benchmark("dot 1536 SIMD speed-up floor (at least 4x the scalar reference)", configuration: .init(
        metrics: [.wallClock],
        setup: {
            func batch(_ kernel: Kernel) -> Duration {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        let started = ContinuousClock.now
                        for _ in 0..<20_000 { blackHole(kernel(pa, pb)) }
                        return started.duration(to: .now)
                    }
                }
            }
            var simd: [Duration] = [], scalar: [Duration] = []
            for _ in 0..<15 {
                simd.append(batch(Distance.dot))
                scalar.append(batch(Distance.Reference.dot))
            }
            let ratio = scalar.sorted()[7] / simd.sorted()[7]
            print("dot 1536: SIMD is \(Int(ratio * 10) / 10)x the scalar reference (median of 15 alternating batches)")
            guard ratio >= 4 else { floorMissed("SIMD dot is only \(ratio)x the scalar reference (floor 4x)") }
        }
    )) { benchmark in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for _ in benchmark.scaledIterations { blackHole(Distance.dot(pa, pb)) }
            }
        }
    }

    Benchmark("four-way dot 1536 SIMD (one call, four vectors)") { benchmark in
        let others = (0..<4).flatMap { _ in b }
        a.withUnsafeBufferPointer { pa in
            others.withUnsafeBufferPointer { po in
                let base = po.baseAddress!
                for _ in benchmark.scaledIterations {
                    blackHole(Distance.dot4(pa.baseAddress!, base, base + dimension, base + 2 * dimension, base + 3 * dimension, count: dimension))
                }
            }
        }
    }

    // 10,000 clustered 1536-d vectors; built once, outside the measured region.
    let clusters = (0..<20).map { _ in (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) } }
    let points = (0..<10_000).map { i in clusters[i % 20].map { $0 + Float.random(in: -0.3...0.3, using: &generator) } }
    let queries = (0..<100).map { i in clusters[i % 20].map { $0 + Float.random(in: -0.3...0.3, using: &generator) } }
    nonisolated(unsafe) var index: HNSWIndex?
    Benchmark("hnsw search 10k x 1536 ef=64", configuration: .init(
        metrics: [.wallClock, .throughput],
        setup: {
            let built = HNSWIndex(dimension: dimension, metric: .cosine, parameters: HNSWParameters(m: 16, efConstruction: 100))
            try built.insert(contentsOf: points, threads: 2)
            index = built
            // The floor: recall@10 against the exact answer at the ef measured.
            var found = 0
            for query in queries {
                let truth = Set(built.exactSearch(try built.prepared(query), k: 10).map(\.id))
                found += try built.search(query, k: 10, ef: 64).filter { truth.contains($0.id) }.count
            }
            let recall = Double(found) / Double(queries.count * 10)
            print("hnsw 10k x 1536 ef=64: recall@10 = \(recall)")
            guard recall >= 0.95 else { floorMissed("recall@10 is \(recall) (floor 0.95)") }
        }
    )) { benchmark in
        guard let index else { return }
        for iteration in benchmark.scaledIterations {
            blackHole(try index.search(queries[iteration % queries.count], k: 10, ef: 64))
        }
    }
}
