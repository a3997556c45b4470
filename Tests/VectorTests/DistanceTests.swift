import Testing
@testable import Vector

/// Every SIMD kernel against its scalar reference, for every dimension 1...64 and the common
/// embedding sizes, with the vectors placed at unaligned offsets so the tail handling and
/// unaligned loads are exercised.
@Suite struct DistanceTests {
    static let dimensions = Array(1...64) + [384, 768, 1536, 3072]

    static func vectors(dimension: Int, offset: Int, seed: UInt64) -> ([Float], [Float]) {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        let a = (0..<(dimension + offset)).map { _ in next() }
        let b = (0..<(dimension + offset)).map { _ in next() }
        return (a, b)
    }

    static func tolerance(_ reference: Float, dimension: Int) -> Float {
        // Float32 summation error grows with the number of terms.
        1e-5 * Float(dimension).squareRoot() * max(1, abs(reference))
    }

    @Test(arguments: dimensions)
    func kernelsMatchTheReference(dimension: Int) {
        for offset in 0..<3 {
            let (a, b) = Self.vectors(dimension: dimension, offset: offset, seed: UInt64(dimension * 31 + offset))
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let x = UnsafeBufferPointer(rebasing: pa[offset...])
                    let y = UnsafeBufferPointer(rebasing: pb[offset...])
                    let dot = Distance.Reference.dot(x, y)
                    #expect(abs(Distance.dot(x, y) - dot) <= Self.tolerance(dot, dimension: dimension), "dot d=\(dimension) offset=\(offset)")
                    let l2 = Distance.Reference.squaredL2(x, y)
                    #expect(abs(Distance.squaredL2(x, y) - l2) <= Self.tolerance(l2, dimension: dimension), "l2 d=\(dimension) offset=\(offset)")
                    let cosine = Distance.Reference.cosineNormalized(x, y)
                    #expect(abs(Distance.cosineNormalized(x, y) - cosine) <= Self.tolerance(cosine, dimension: dimension))
                }
            }
        }
    }

    @Test func identicalVectorsAreAtDistanceZero() {
        let (a, _) = Self.vectors(dimension: 1536, offset: 0, seed: 7)
        a.withUnsafeBufferPointer { pa in
            #expect(Distance.squaredL2(pa, pa) == 0)
        }
    }
}
