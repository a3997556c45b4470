import CVectorSupport

/// What a search walks the graph with. Filtered exact scans, the final ranking and the
/// choice of links always use the float32 vectors; an insert into an int8 index looks for
/// its candidates on the codes too (as any insert does during `HNSWIndex.bulkLoad`).
public enum Traversal: String, Sendable, Codable, CaseIterable {
    /// The float32 vectors: exact distances all the way.
    case float32
    /// Int8 codes of the vectors (a quarter of the bytes per step); the candidates found are
    /// then re-ranked by their float32 distances. Costs the dimension rounded up to 16, plus
    /// 8 bytes, per slot.
    case int8
}

/// Int8 codes for quantized traversal. Each stored vector is scaled by its own largest
/// magnitude onto [-127, 127]; a query is scaled onto a finer int16 grid, so nearly all of the
/// error is the stored codes'. The inner product of two code vectors is exact integer
/// arithmetic (`portal_dot_codes4`); times both scales it estimates the float inner product.
enum Int8Codes {
    /// Codes per vector: the dimension rounded up to 16, the padding zero.
    static func stride(dimension: Int) -> Int { (dimension + 15) & ~15 }

    /// The largest query code: keeps `queryMaximum × 127 × stride` within Int32.
    static func queryMaximum(stride: Int) -> Int { min(2047, Int(Int32.max) / (127 * stride)) }

    /// Writes the codes of `vector` (then zero padding up to `stride`) and returns the scale:
    /// `vector[i] ≈ scale × codes[i]` (AVX2, `portal_encode_int8`).
    static func encode(_ vector: UnsafeBufferPointer<Float>, into codes: UnsafeMutablePointer<Int8>, stride: Int) -> Float {
        precondition(stride % 16 == 0 && vector.count <= stride, "codes are padded to a multiple of 16")
        let scale = scale(vector, maximum: 127)
        portal_encode_int8(vector.baseAddress!, vector.count, scale, codes, stride)
        return scale
    }

    /// Writes the codes of a node's `vector` and returns the factors a `CodeTable` keeps
    /// beside them: the codes' scale and the vector's squared norm.
    static func encodeNode(_ vector: UnsafeBufferPointer<Float>, into codes: UnsafeMutablePointer<Int8>, stride: Int) -> SIMD2<Float> {
        SIMD2(encode(vector, into: codes, stride: stride), Distance.dot(vector, vector))
    }

    /// The int16 codes of a query (zero-padded to `stride`) and their scale (`portal_encode_int16`).
    static func encodeQuery(_ query: UnsafeBufferPointer<Float>, stride: Int) -> (codes: [Int16], scale: Float) {
        precondition(stride % 16 == 0 && query.count <= stride, "codes are padded to a multiple of 16")
        let maximum = queryMaximum(stride: stride)
        let scale = scale(query, maximum: maximum)
        let codes = [Int16](unsafeUninitializedCapacity: stride) { buffer, count in
            portal_encode_int16(query.baseAddress!, query.count, scale, Float(maximum), buffer.baseAddress!, stride)
            count = stride
        }
        return (codes, scale)
    }

    /// The largest finite magnitude over `maximum`, or 1 when that is zero (a zero vector, or
    /// one so small that the division underflows) or not finite.
    private static func scale(_ vector: UnsafeBufferPointer<Float>, maximum: Int) -> Float {
        let quotient = portal_largest_magnitude(vector.baseAddress!, vector.count) / Float(maximum)
        return quotient > 0 && quotient.isFinite ? quotient : 1
    }

    /// Scalar reference of both encoders: the codes of `vector` on ±`maximum` (each component
    /// over the scale, a non-finite quotient coded 0, clamped, rounded with ties to even) and
    /// the scale.
    static func referenceEncode(_ vector: [Float], maximum: Int) -> (codes: [Int], scale: Float) {
        var largest: Float = 0
        for value in vector where value.isFinite { largest = max(largest, value.magnitude) }
        let quotient = largest / Float(maximum)
        let scale = quotient > 0 && quotient.isFinite ? quotient : 1
        let codes = vector.map { value -> Int in
            let scaled = value / scale
            guard scaled.isFinite else { return 0 }
            return Int(min(max(scaled, -Float(maximum)), Float(maximum)).rounded(.toNearestOrEven))
        }
        return (codes, scale)
    }

    /// `Σ query[i] × codes[i]` over `stride` entries (AVX2, `portal_dot_codes`).
    @inline(__always)
    static func dot(_ query: UnsafePointer<Int16>, _ codes: UnsafePointer<Int8>, stride: Int) -> Int32 {
        portal_dot_codes(query, codes, stride)
    }

    /// `dot` with four code vectors in one pass over the query (`portal_dot_codes4`).
    @inline(__always)
    static func dot4(
        _ query: UnsafePointer<Int16>, _ codes0: UnsafePointer<Int8>, _ codes1: UnsafePointer<Int8>,
        _ codes2: UnsafePointer<Int8>, _ codes3: UnsafePointer<Int8>, stride: Int
    ) -> SIMD4<Int32> {
        var products = SIMD4<Int32>()
        withUnsafeMutableBytes(of: &products) { out in
            portal_dot_codes4(query, codes0, codes1, codes2, codes3, stride, out.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        return products
    }

    /// Scalar reference of the integer inner product the SIMD kernels are tested against.
    static func referenceDot(_ query: [Int16], _ codes: [Int8]) -> Int32 {
        precondition(query.count == codes.count)
        var sum: Int64 = 0
        for index in query.indices { sum += Int64(query[index]) * Int64(codes[index]) }
        return Int32(sum)
    }
}
