import FoundationEssentials

/// A JSON value of unknown shape: a token's claims, a provider's documents, tool inputs,
/// schemas and outputs. Numbers are doubles (integers are exact up to 2^53).
public enum JSONAny: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([JSONAny])
    case object([String: JSONAny])
    case null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONAny].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONAny].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .string(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .bool(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    public var string: String? { if case let .string(value) = self { value } else { nil } }
    public var number: Double? { if case let .number(value) = self { value } else { nil } }

    /// A string, or the strings of an array (claims such as `aud` and `groups` may be either).
    public var strings: [String]? {
        switch self {
        case let .string(value): [value]
        case let .array(values): values.compactMap(\.string).count == values.count ? values.compactMap(\.string) : nil
        default: nil
        }
    }
    public var bool: Bool? { if case let .bool(value) = self { value } else { nil } }
    public var array: [JSONAny]? { if case let .array(value) = self { value } else { nil } }
    public var object: [String: JSONAny]? { if case let .object(value) = self { value } else { nil } }

    /// The number when it is a whole number that fits an `Int` exactly.
    public var integer: Int? {
        guard let number, number.rounded() == number, abs(number) <= 9_007_199_254_740_992 else { return nil }
        return Int(number)
    }

    public subscript(key: String) -> JSONAny? { object?[key] }

    /// Compact JSON with sorted keys: the same value always gives the same bytes.
    public var canonicalJSON: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("null".utf8))
    }

    /// `value`'s JSON form (as `JSONEncoder` writes it).
    public init(encoding value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONAny.self, from: JSONEncoder().encode(value))
    }

    /// This value decoded as `T` (as `JSONDecoder` reads it).
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: JSONEncoder().encode(self))
    }

    /// Parses JSON text; `nil` when it is not JSON.
    public init?(json bytes: some Collection<UInt8>) {
        guard let value = try? JSONDecoder().decode(JSONAny.self, from: Data(bytes)) else { return nil }
        self = value
    }
}
