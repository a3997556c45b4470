import FoundationEssentials

/// Turns a value into bytes and back. A table's key and value codecs are types, so a table's
/// layout is visible in its declaration: `Table<UInt64Key, JSONValue<User>>`.
///
/// Keys must encode so that byte order is the order the table should iterate in.
public protocol Codec<Value>: Sendable {
    associatedtype Value
    static func encode(_ value: Value) throws(CodecError) -> [UInt8]
    /// Decodes bytes that LMDB owns; they are valid only for the duration of the call.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> Value
}

/// Why bytes could not be decoded; the table turns it into `KVError.decode`.
public struct CodecError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A 64-bit unsigned integer, big-endian so that keys sort numerically.
public enum UInt64Key: Codec {
    public static func encode(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> UInt64 {
        guard bytes.count == 8 else { throw CodecError("expected 8 bytes for a UInt64 key, found \(bytes.count)") }
        return UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }
}

/// A UTF-8 string; sorts by bytes, which for UTF-8 is code-point order.
public enum StringKey: Codec {
    public static func encode(_ value: String) -> [UInt8] { Array(value.utf8) }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> String {
        guard let string = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw CodecError("key is not valid UTF-8")
        }
        return string
    }
}

/// Bytes stored as they are.
public enum RawBytes: Codec {
    public static func encode(_ value: [UInt8]) -> [UInt8] { value }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> [UInt8] { Array(bytes) }
}

/// A `Codable` value stored as JSON behind a one-byte format tag, so that the encoding can
/// change later without guessing what old bytes are.
public enum JSONValue<Value: Codable & Sendable>: Codec {
    static var formatTag: UInt8 { 0x4A } // "J"

    public static func encode(_ value: Value) throws(CodecError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(value) } catch { throw CodecError("cannot encode \(Value.self) as JSON: \(error)") }
        var bytes = [UInt8]()
        bytes.reserveCapacity(data.count + 1)
        bytes.append(formatTag)
        bytes.append(contentsOf: data)
        return bytes
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> Value {
        guard let tag = bytes.first else { throw CodecError("empty value") }
        guard tag == formatTag else { throw CodecError("unknown value format tag 0x\(String(tag, radix: 16))") }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes[1...]))
        } catch {
            throw CodecError("invalid JSON for \(Value.self): \(error)")
        }
    }
}
