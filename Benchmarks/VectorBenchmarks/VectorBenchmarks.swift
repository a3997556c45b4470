import Benchmark
import Vector

/// Distance-kernel micro-benchmarks at the portal's default dimension (1536), SIMD vs the
/// scalar reference, so the ratio is measured in one run.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2), maxIterations: 10_000_000)

    let dimension = 1536
    var generator = SystemRandomNumberGenerator()
    let a = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
    let b = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }

    Benchmark("dot 1536 SIMD") { benchmark in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for _ in benchmark.scaledIterations { blackHole(Distance.dot(pa, pb)) }
            }
        }
    }
    Benchmark("dot 1536 scalar reference") { benchmark in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for _ in benchmark.scaledIterations { blackHole(Distance.Reference.dot(pa, pb)) }
            }
        }
    }
    Benchmark("squared L2 1536 SIMD") { benchmark in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for _ in benchmark.scaledIterations { blackHole(Distance.squaredL2(pa, pb)) }
            }
        }
    }
    Benchmark("squared L2 1536 scalar reference") { benchmark in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for _ in benchmark.scaledIterations { blackHole(Distance.Reference.squaredL2(pa, pb)) }
            }
        }
    }
}
