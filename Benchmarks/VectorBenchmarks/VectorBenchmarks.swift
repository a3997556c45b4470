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
}
