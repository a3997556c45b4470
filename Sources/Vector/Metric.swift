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
}

/// Why a vector or a request was refused.
public enum VectorError: Error, Equatable, CustomStringConvertible {
    case wrongDimension(expected: Int, got: Int)
    case notFinite
    case zeroVector
    case unknownID(UInt32)

    public var description: String {
        switch self {
        case let .wrongDimension(expected, got): "expected a vector of \(expected) dimensions, got \(got)"
        case .notFinite: "the vector contains NaN or infinity"
        case .zeroVector: "a zero vector has no direction, so it cannot be compared by cosine"
        case let .unknownID(id): "no vector with id \(id)"
        }
    }
}
