/// How a collection measures distance between vectors. Smaller is closer for every metric.
public enum Metric: String, Sendable, Codable, CaseIterable {
    /// `1 - cos(a, b)`; vectors are normalized on insert and query, so this is `1 - a·b`.
    case cosine
    /// `-a·b`: larger inner products are closer.
    case innerProduct
    /// `Σ (aᵢ - bᵢ)²`.
    case squaredL2

    @inline(__always)
    func distance(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        switch self {
        case .cosine: Distance.cosineNormalized(a, b)
        case .innerProduct: -Distance.dot(a, b)
        case .squaredL2: Distance.squaredL2(a, b)
        }
    }

    /// Distances from `query` to four stored vectors of `count` floats.
    @inline(__always)
    func distance4(
        _ query: UnsafePointer<Float>, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
        _ v2: UnsafePointer<Float>, _ v3: UnsafePointer<Float>, count: Int
    ) -> SIMD4<Float> {
        switch self {
        case .cosine: 1 - Distance.dot4(query, v0, v1, v2, v3, count: count)
        case .innerProduct: -Distance.dot4(query, v0, v1, v2, v3, count: count)
        case .squaredL2: Distance.squaredL2x4(query, v0, v1, v2, v3, count: count)
        }
    }
}

/// Why a vector or a request was refused.
public enum VectorError: Error, Equatable, CustomStringConvertible {
    case wrongDimension(expected: Int, got: Int)
    case notFinite
    case zeroVector
    case unknownID(UInt32)
    case unknownCollection(String)
    case collectionExists(String)
    case corruptRecord(String)

    public var description: String {
        switch self {
        case let .wrongDimension(expected, got): "expected a vector of \(expected) dimensions, got \(got)"
        case .notFinite: "the vector contains NaN or infinity"
        case .zeroVector: "a zero vector has no direction, so it cannot be compared by cosine"
        case let .unknownID(id): "no vector with id \(id)"
        case let .unknownCollection(name): "no vector collection named '\(name)'"
        case let .collectionExists(name): "a vector collection named '\(name)' already exists"
        case let .corruptRecord(reason): "a stored vector record is corrupt: \(reason)"
        }
    }
}
