import FoundationEssentials
import KV
import Portal
import Synchronization

/// The JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of a `Decodable` type, derived
/// without macros or hand-written JSON: the type's `init(from:)` runs against a decoder that
/// answers every request with a placeholder and records what was asked.
///
/// Guarantees: it always returns, for recursive types too, and never traps. For what was
/// decoded, the schema describes what `JSONDecoder` (ISO 8601 dates) accepts:
/// - a key read with `decode(_:forKey:)` is `required`, one read with `decodeIfPresent` is not;
///   unknown keys stay allowed (no `additionalProperties: false`), as `JSONDecoder` ignores them;
/// - `String`, `Bool`, integers (`int32`/`int64` formats for `Int32`, `Int64`, `Int`), `Double`,
///   `Float`, `Decimal`, `Date` (`date-time`), `UUID` and `TimeOrderedID` (`uuid`), `URL` (`uri`), `Data` (base64) and
///   `JSONAny` (`{}`, any JSON) are leaves;
/// - arrays and sets are `array` with `items`; `[String: V]` is an `object` with
///   `additionalProperties`; a `CaseIterable` type with `String` or integer raw values is an `enum`
///   of them (its raw values are assumed to be its JSON form);
/// - a type met again inside itself is `{}` there.
///
/// Limits: placeholders are `"x"`, `1`, `false`, 1970-01-01, a random UUID, the first case of an
/// enum, empty dictionaries and one-element arrays, so only the path they lead through is seen:
/// - when a custom `init(from:)` throws (validation, or a non-`CaseIterable` raw enum, which has
///   no placeholder: `"x"` is not one of its cases), the schema keeps what was recorded before
///   the throw; a failing value read with `decodeIfPresent` is `nil`, so the properties after it
///   are still recorded, while one read with `decode` ends the enclosing object there;
/// - a type that tries shapes in turn (`try? decode(String.self)`, else a keyed container) is
///   described by the first that succeeds; an array read position by position as different
///   types has the `items` of the last one read;
/// - enums with associated values (their synthesized decoding needs the keys present) and
///   dictionaries whose keys are not strings are `{}` or an `object` without properties;
/// - optionals are nullable (`JSONDecoder` accepts `null` for them): `"type": [T, "null"]`, or
///   `anyOf` with `null` for schemas without one type.
///
/// A `SchemaComponent` type is a named schema: wherever it appears (at the top or nested) the
/// schema is a `$ref` to `#/components/schemas/<name>`, and its own schema is recorded in
/// `SchemaComponents`, so that the document and the clients generated from it have one type
/// for it.
enum SchemaRecorder {
    /// The schema of `type`'s JSON form: `{}` when nothing could be recorded.
    static func schema<T: Decodable>(for type: T.Type) -> JSONAny {
        let node = SchemaNode()
        _ = try? Recording().value(of: type, into: node, codingPath: [], valueOnly: false)
        return node.schema
    }

    /// The schema of a component's own JSON form (what its `$ref` points to).
    static func definition<T: SchemaComponent>(of type: T.Type) -> JSONAny {
        let node = SchemaNode()
        _ = try? Recording(defining: ObjectIdentifier(T.self)).value(of: type, into: node, codingPath: [], valueOnly: false)
        return node.schema
    }
}

/// A type whose schema is named in the document (`#/components/schemas/<componentName>`).
protocol SchemaComponent: Decodable {
    static var componentName: String { get }
}

/// The named schemas met so far, for the document's `components.schemas`.
enum SchemaComponents {
    private static let recorded = Mutex<[String: JSONAny]>([:])

    static var all: [String: JSONAny] { recorded.withLock { $0 } }

    /// The `$ref` to `T`, recording its definition the first time.
    static func reference<T: SchemaComponent>(to type: T.Type) -> JSONAny {
        let name = T.componentName
        if recorded.withLock({ $0[name] == nil }) {
            let definition = SchemaRecorder.definition(of: type)
            recorded.withLock { $0[name] = definition }
        }
        return .object(["$ref": .string("#/components/schemas/" + name)])
    }
}

/// One run of a recording: the types being decoded, outermost first.
private final class Recording {
    private var stack: [ObjectIdentifier] = []
    /// The component whose definition this recording is (described in full, not referred to).
    private let defining: ObjectIdentifier?

    init(defining: ObjectIdentifier? = nil) {
        self.defining = defining
    }

    /// A placeholder `T` whose schema is recorded into `node`. With `valueOnly` (inside a type met
    /// again inside itself), arrays are empty and optionals `nil`, so that the value ends.
    func value<T: Decodable>(of type: T.Type, into node: SchemaNode, codingPath: [any CodingKey], valueOnly: Bool) throws -> T {
        if let leaf = T.self as? any Leaf.Type, let value = leaf.placeholder as? T {
            node.fixed = leaf.schema
            return value
        }
        if let dictionary = T.self as? any StringKeyedDictionary.Type, let empty = dictionary.empty as? T {
            let values = SchemaNode()
            _ = try? self.value(of: dictionary.valueType, into: values, codingPath: codingPath, valueOnly: valueOnly)
            node.fixed = .type("object", ["additionalProperties": values.schema])
            return empty
        }
        if let enumeration = T.self as? any (CaseIterable & RawRepresentable).Type,
           let (schema, first) = cases(of: enumeration), let value = first as? T {
            node.fixed = schema
            return value
        }
        let id = ObjectIdentifier(T.self)
        if let component = T.self as? any SchemaComponent.Type, id != defining || !stack.isEmpty {
            // Decoded for its placeholder value only; the schema here is the reference.
            let value = try T(from: RecordingDecoder(recording: Recording(defining: id), node: SchemaNode(), codingPath: codingPath, valueOnly: valueOnly))
            node.fixed = reference(to: component)
            return value
        }
        let entries = stack.count(where: { $0 == id })
        guard entries < 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(T.self) requires a value of itself"))
        }
        stack.append(id)
        defer { stack.removeLast() }
        if entries == 1 {
            // Met again inside itself: `{}` here, and a value without elements or optionals so that
            // the enclosing decoding goes on. A type that requires itself throws at the third entry.
            node.fixed = .object([:])
            return try T(from: RecordingDecoder(recording: self, node: SchemaNode(), codingPath: codingPath, valueOnly: true))
        }
        do {
            return try T(from: RecordingDecoder(recording: self, node: node, codingPath: codingPath, valueOnly: valueOnly))
        } catch {
            node.failed = true
            throw error
        }
    }

    /// The `enum` schema and first case of a `CaseIterable` type with `String` or integer raw values.
    private func cases<E: CaseIterable & RawRepresentable>(of type: E.Type) -> (schema: JSONAny, first: E)? {
        guard let first = E.allCases.first else { return nil }
        let rawValues = E.allCases.map(\.rawValue)
        if let strings = rawValues as? [String] {
            return (.type("string", ["enum": .array(strings.map(JSONAny.string))]), first)
        }
        if let integers = rawValues as? [any BinaryInteger] {
            return (.type("integer", ["enum": .array(integers.map { .number(Double($0)) })]), first)
        }
        return nil
    }
}

/// What was asked of one value: a fixed schema, an object's properties, or an array's items.
private final class SchemaNode {
    var fixed: JSONAny?
    var properties: [String: SchemaNode]?
    var required: Set<String> = []
    var isArray = false
    var items: SchemaNode?
    /// Its type's `init(from:)` threw: an object counts only if it recorded properties.
    var failed = false
    /// Read with `decodeIfPresent`: `null` is accepted too.
    var nullable = false

    var schema: JSONAny {
        let schema = nonNullSchema
        guard nullable, case var .object(keywords) = schema, !keywords.isEmpty else { return schema }
        if keywords["enum"] == nil, case let .string(type)? = keywords["type"] {
            keywords["type"] = .array([.string(type), .string("null")])
            return .object(keywords)
        }
        return .object(["anyOf": .array([schema, .type("null")])])
    }

    private var nonNullSchema: JSONAny {
        if let fixed { return fixed }
        if let properties, !(failed && properties.isEmpty) {
            var keywords: [String: JSONAny] = [:]
            if !properties.isEmpty { keywords["properties"] = .object(properties.mapValues(\.schema)) }
            if !required.isEmpty { keywords["required"] = .array(required.sorted().map(JSONAny.string)) }
            return .type("object", keywords)
        }
        if isArray { return .type("array", items.map { ["items": $0.schema] } ?? [:]) }
        return .object([:])
    }
}

private extension JSONAny {
    /// `{"type": name}` with further keywords.
    static func type(_ name: String, _ keywords: [String: JSONAny] = [:]) -> JSONAny {
        .object(keywords.merging(["type": .string(name)]) { $1 })
    }
}

/// A type `JSONDecoder` reads as one JSON value of a known schema, without its `init(from:)`.
private protocol Leaf: Decodable {
    static var schema: JSONAny { get }
    static var placeholder: Self { get }
}

extension Leaf where Self: FixedWidthInteger {
    static var schema: JSONAny { .type("integer") }
    static var placeholder: Self { 1 }
}

extension String: Leaf {
    fileprivate static var schema: JSONAny { .type("string") }
    fileprivate static var placeholder: String { "x" }
}
extension Bool: Leaf {
    fileprivate static var schema: JSONAny { .type("boolean") }
    fileprivate static var placeholder: Bool { false }
}
extension Double: Leaf {
    fileprivate static var schema: JSONAny { .type("number") }
    fileprivate static var placeholder: Double { 1 }
}
extension Float: Leaf {
    fileprivate static var schema: JSONAny { .type("number") }
    fileprivate static var placeholder: Float { 1 }
}
extension Decimal: Leaf {
    fileprivate static var schema: JSONAny { .type("number") }
    fileprivate static var placeholder: Decimal { 1 }
}
extension Int: Leaf {
    fileprivate static var schema: JSONAny { .type("integer", ["format": .string("int64")]) }
}
extension Int64: Leaf {
    fileprivate static var schema: JSONAny { .type("integer", ["format": .string("int64")]) }
}
extension Int32: Leaf {
    fileprivate static var schema: JSONAny { .type("integer", ["format": .string("int32")]) }
}
extension Int16: Leaf {}
extension Int8: Leaf {}
extension UInt: Leaf {}
extension UInt64: Leaf {}
extension UInt32: Leaf {}
extension UInt16: Leaf {}
extension UInt8: Leaf {}
extension Date: Leaf {
    fileprivate static var schema: JSONAny { .type("string", ["format": .string("date-time")]) }
    fileprivate static var placeholder: Date { Date(timeIntervalSince1970: 0) }
}
extension UUID: Leaf {
    fileprivate static var schema: JSONAny { .type("string", ["format": .string("uuid")]) }
    fileprivate static var placeholder: UUID { UUID() }
}
extension TimeOrderedID: Leaf {
    fileprivate static var schema: JSONAny { .type("string", ["format": .string("uuid")]) }
    fileprivate static var placeholder: TimeOrderedID { .generate(now: Date(timeIntervalSince1970: 0)) }
}
extension URL: Leaf {
    fileprivate static var schema: JSONAny { .type("string", ["format": .string("uri")]) }
    fileprivate static var placeholder: URL { URL(filePath: "/") }
}
extension Data: Leaf {
    fileprivate static var schema: JSONAny { .type("string", ["contentEncoding": .string("base64")]) }
    fileprivate static var placeholder: Data { Data() }
}
extension JSONAny: Leaf {
    fileprivate static var schema: JSONAny { .object([:]) }
    fileprivate static var placeholder: JSONAny { .object([:]) }
}

/// `[String: V]`, which `JSONDecoder` reads as an object of `V`s. Its own `init(from:)` decodes
/// only the keys present (none here), so it is described from `V` instead.
private protocol StringKeyedDictionary {
    static var valueType: any Decodable.Type { get }
    static var empty: Self { get }
}

extension Dictionary: StringKeyedDictionary where Key == String, Value: Decodable {
    fileprivate static var valueType: any Decodable.Type { Value.self }
    fileprivate static var empty: Self { [:] }
}

/// A key for `super` and array positions in coding paths.
private struct PathKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

/// Hands out containers that record into `node`.
private struct RecordingDecoder: Decoder {
    let recording: Recording
    let node: SchemaNode
    let codingPath: [any CodingKey]
    let valueOnly: Bool
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedDecodingContainer<Key> {
        if node.properties == nil { node.properties = [:] }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() -> any UnkeyedDecodingContainer {
        node.isArray = true
        return UnkeyedContainer(decoder: self)
    }

    func singleValueContainer() -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    /// A decoder for the value at `key`, recording into `child`.
    func child(_ child: SchemaNode, at key: any CodingKey) -> RecordingDecoder {
        RecordingDecoder(recording: recording, node: child, codingPath: codingPath + [key], valueOnly: valueOnly)
    }

    /// A placeholder `T`, its schema recorded into `node`.
    func value<T: Decodable>(_ type: T.Type) throws -> T {
        try recording.value(of: type, into: node, codingPath: codingPath, valueOnly: valueOnly)
    }
}

/// Every key is present and not null (none in `valueOnly` mode); each one read becomes a property.
private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: RecordingDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { !decoder.valueOnly }
    func decodeNil(forKey key: Key) -> Bool { decoder.valueOnly }

    private func property(_ name: String, required: Bool) -> SchemaNode {
        let child = SchemaNode()
        decoder.node.properties?[name] = child
        if required { decoder.node.required.insert(name) }
        return child
    }

    private func required<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decoder.child(property(key.stringValue, required: true), at: key).value(type)
    }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) -> T? {
        let child = property(key.stringValue, required: false)
        child.nullable = true
        return decoder.valueOnly ? nil : try? decoder.child(child, at: key).value(type)
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try required(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try required(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try required(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try required(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try required(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try required(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try required(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try required(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try required(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try required(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try required(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try required(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try required(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try required(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try required(type, key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) -> Bool? { optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) -> String? { optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) -> Double? { optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) -> Float? { optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) -> Int? { optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) -> Int8? { optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) -> Int16? { optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) -> Int32? { optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) -> Int64? { optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) -> UInt? { optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) -> UInt8? { optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) -> UInt16? { optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) -> UInt32? { optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) -> UInt64? { optional(type, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) -> T? { optional(type, key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) -> KeyedDecodingContainer<NestedKey> {
        decoder.child(property(key.stringValue, required: true), at: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedDecodingContainer {
        decoder.child(property(key.stringValue, required: true), at: key).unkeyedContainer()
    }

    func superDecoder() -> any Decoder {
        decoder.child(property("super", required: true), at: PathKey(stringValue: "super"))
    }

    func superDecoder(forKey key: Key) -> any Decoder {
        decoder.child(property(key.stringValue, required: true), at: key)
    }
}

/// One element (none in `valueOnly` mode), never null; the last one read is the array's `items`.
private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: RecordingDecoder
    private(set) var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { decoder.valueOnly ? 0 : 1 }
    var isAtEnd: Bool { decoder.valueOnly || currentIndex > 0 }

    init(decoder: RecordingDecoder) { self.decoder = decoder }

    func decodeNil() -> Bool { decoder.valueOnly }

    /// A decoder for the next element, which becomes the array's `items`.
    private mutating func nextElement() -> RecordingDecoder {
        let child = SchemaNode()
        decoder.node.items = child
        defer { currentIndex += 1 }
        return decoder.child(child, at: PathKey(intValue: currentIndex))
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try nextElement().value(type) }
    mutating func decode(_ type: String.Type) throws -> String { try nextElement().value(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try nextElement().value(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try nextElement().value(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try nextElement().value(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try nextElement().value(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try nextElement().value(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try nextElement().value(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try nextElement().value(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try nextElement().value(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try nextElement().value(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try nextElement().value(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try nextElement().value(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try nextElement().value(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try nextElement().value(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) -> KeyedDecodingContainer<NestedKey> {
        nextElement().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedDecodingContainer { nextElement().unkeyedContainer() }

    mutating func superDecoder() -> any Decoder { nextElement() }
}

/// Decodes into its decoder's own node: the value's schema is the schema of what it reads.
private struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: RecordingDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.valueOnly }

    func decode(_ type: Bool.Type) throws -> Bool { try decoder.value(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.value(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.value(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.value(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.value(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.value(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.value(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.value(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.value(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.value(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.value(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.value(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.value(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.value(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.value(type) }
}

private func reference<T: SchemaComponent>(to type: T.Type) -> JSONAny { SchemaComponents.reference(to: type) }
