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

    /// The four-at-a-time kernels the graph search uses, lane by lane against the reference,
    /// with each lane at a different unaligned offset.
    @Test(arguments: dimensions)
    func fourWayKernelsMatchTheReference(dimension: Int) {
        let (query, _) = Self.vectors(dimension: dimension, offset: 1, seed: UInt64(dimension))
        let stride = dimension + 4
        let flat = (0..<4).flatMap { lane in Self.vectors(dimension: stride, offset: 0, seed: UInt64(dimension * 7 + lane)).1 }
        query.withUnsafeBufferPointer { q in
            flat.withUnsafeBufferPointer { all in
                let x = UnsafeBufferPointer(rebasing: q[1...])
                let lanes = (0..<4).map { lane in all.baseAddress! + lane * stride + lane }
                let dots = Distance.dot4(x.baseAddress!, lanes[0], lanes[1], lanes[2], lanes[3], count: dimension)
                let l2s = Distance.squaredL2x4(x.baseAddress!, lanes[0], lanes[1], lanes[2], lanes[3], count: dimension)
                for lane in 0..<4 {
                    let y = UnsafeBufferPointer(start: lanes[lane], count: dimension)
                    let dot = Distance.Reference.dot(x, y), l2 = Distance.Reference.squaredL2(x, y)
                    #expect(abs(dots[lane] - dot) <= Self.tolerance(dot, dimension: dimension), "dot4 d=\(dimension) lane \(lane)")
                    #expect(abs(l2s[lane] - l2) <= Self.tolerance(l2, dimension: dimension), "l2x4 d=\(dimension) lane \(lane)")
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

/// The int8 code kernels of quantized traversal: exact integer arithmetic, so they must equal
/// the scalar reference bit for bit, including at the extremes of the code ranges.
@Suite struct Int8CodeTests {
    /// 10,000 dimensions bring the query's largest code below 2,047 (to 1,690): the Int32
    /// bound is then reached exactly by the extreme vectors.
    @Test(arguments: DistanceTests.dimensions + [10_000])
    func codeKernelsEqualTheReference(dimension: Int) {
        let stride = Int8Codes.stride(dimension: dimension)
        #expect(stride % 16 == 0 && stride >= dimension && stride < dimension + 16)
        let maximum = Int8Codes.queryMaximum(stride: stride)
        var random = SplitMix64(seed: UInt64(dimension))
        func padded<T: FixedWidthInteger>(_ values: [T]) -> [T] { values + [T](repeating: 0, count: stride - dimension) }
        let randomQuery = padded((0..<dimension).map { _ in Int16(Int(random.next() % UInt64(2 * maximum + 1)) - maximum) })
        let extremeQuery = padded([Int16](repeating: Int16(-maximum), count: dimension))
        let lanes: [[Int8]] = [
            padded((0..<dimension).map { _ in Int8(Int(random.next() % 255) - 127) }),
            padded([Int8](repeating: -127, count: dimension)),
            padded([Int8](repeating: 127, count: dimension)),
            padded((0..<dimension).map { $0 % 2 == 0 ? 127 : -127 }),
        ]
        for query in [randomQuery, extremeQuery] {
            let expected = lanes.map { Int8Codes.referenceDot(query, $0) }
            query.withUnsafeBufferPointer { q in
                let four = Int8Codes.dot4(q.baseAddress!, lanes[0], lanes[1], lanes[2], lanes[3], stride: stride)
                for lane in 0..<4 {
                    #expect(four[lane] == expected[lane], "d=\(dimension) lane \(lane)")
                    #expect(Int8Codes.dot(q.baseAddress!, lanes[lane], stride: stride) == expected[lane], "d=\(dimension) lane \(lane)")
                }
            }
        }
    }

    /// Both SIMD encoders give the scalar reference's codes and scale exactly: random vectors
    /// of every tested dimension (10,000 shrinks the query's range), ties (halves, which go to
    /// even), and vectors with NaN, infinity, subnormal and huge components; padding is zero.
    @Test(arguments: DistanceTests.dimensions + [10_000])
    func encodersEqualTheReference(dimension: Int) {
        let stride = Int8Codes.stride(dimension: dimension)
        var random = SplitMix64(seed: UInt64(dimension) &+ 7)
        func uniform() -> Float { Float(random.next() >> 40) / Float(1 << 24) * 2 - 1 }
        let specials: [Float] = [.nan, .infinity, -.infinity, 1e-44, -3e38, 3e38, 0]
        let vectors: [[Float]] = [
            (0..<dimension).map { _ in uniform() },
            (0..<dimension).map { $0 == 0 ? 127 : Float(Int(random.next() % 253) - 126) + 0.5 },  // scale 1: every value but the first a tie
            (0..<dimension).map { _ in uniform() * 1e-40 },
            (0..<dimension).map { index in index % 5 == 0 ? specials[index / 5 % specials.count] : uniform() },
        ]
        for vector in vectors {
            let reference = Int8Codes.referenceEncode(vector, maximum: 127)
            var codes = [Int8](repeating: 99, count: stride)
            let scale = vector.withUnsafeBufferPointer { v in codes.withUnsafeMutableBufferPointer { Int8Codes.encode(v, into: $0.baseAddress!, stride: stride) } }
            #expect(scale == reference.scale, "d=\(dimension)")
            #expect(codes.map(Int.init) == reference.codes + [Int](repeating: 0, count: stride - dimension), "d=\(dimension)")

            let queryReference = Int8Codes.referenceEncode(vector, maximum: Int8Codes.queryMaximum(stride: stride))
            let query = vector.withUnsafeBufferPointer { Int8Codes.encodeQuery($0, stride: stride) }
            #expect(query.scale == queryReference.scale, "d=\(dimension)")
            #expect(query.codes.map(Int.init) == queryReference.codes + [Int](repeating: 0, count: stride - dimension), "d=\(dimension)")
        }
    }

    /// Vectors too small to scale (their scale underflows), zero vectors and a corrupt stored
    /// vector with NaN or infinity code without trapping; the codes stay in range.
    @Test func extremeVectorsCodeWithoutTrapping() {
        let stride = Int8Codes.stride(dimension: 4)
        for vector: [Float] in [[1e-44, -1e-45, 0, 0], [0, 0, 0, 0], [.nan, 1, -1, 0], [.infinity, 0.5, 0, 0], [3e38, -3e38, 1, 0]] {
            var codes = [Int8](repeating: 0, count: stride)
            let scale = vector.withUnsafeBufferPointer { v in codes.withUnsafeMutableBufferPointer { Int8Codes.encode(v, into: $0.baseAddress!, stride: stride) } }
            #expect(scale > 0 && scale.isFinite, "\(vector)")
            #expect(codes.allSatisfy { $0 >= -127 }, "\(vector)")
            let query = vector.withUnsafeBufferPointer { Int8Codes.encodeQuery($0, stride: stride) }
            #expect(query.scale > 0 && query.scale.isFinite && query.codes.allSatisfy { $0.magnitude <= 2_047 }, "\(vector)")
        }
    }

    /// Codes reproduce each component within half a step of its vector's scale, the padding is
    /// zero, and the product of codes times both scales estimates the inner product closely.
    @Test(arguments: [3, 50, 384, 1536])
    func codesEstimateTheInnerProduct(dimension: Int) {
        let (a, b) = DistanceTests.vectors(dimension: dimension, offset: 0, seed: UInt64(dimension))
        let stride = Int8Codes.stride(dimension: dimension)
        var codes = [Int8](repeating: 99, count: stride)
        let scale = a.withUnsafeBufferPointer { vector in
            codes.withUnsafeMutableBufferPointer { Int8Codes.encode(vector, into: $0.baseAddress!, stride: stride) }
        }
        #expect(codes.dropFirst(dimension).allSatisfy { $0 == 0 })
        #expect(codes.prefix(dimension).contains { $0.magnitude == 127 })
        for index in 0..<dimension { #expect(abs(a[index] - scale * Float(codes[index])) <= scale / 2 * 1.0001) }
        let query = b.withUnsafeBufferPointer { Int8Codes.encodeQuery($0, stride: stride) }
        let estimate = Float(Int8Codes.referenceDot(query.codes, codes)) * query.scale * scale
        let exact = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { Distance.Reference.dot(x, $0) } }
        let norms = a.withUnsafeBufferPointer { Distance.dot($0, $0) }.squareRoot() * b.withUnsafeBufferPointer { Distance.dot($0, $0) }.squareRoot()
        #expect(abs(estimate - exact) <= 0.01 * norms, "d=\(dimension): \(estimate) vs \(exact)")
    }
}
