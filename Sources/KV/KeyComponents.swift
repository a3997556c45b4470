public import FoundationEssentials

/// A key type that can be one part of a composite key: it encodes so that byte order is value
/// order and so that the next component can start right after it (fixed width, or escaped and
/// terminated).
public protocol KeyComponent: Sendable {
    static func encodeComponent(_ value: Self, into bytes: inout [UInt8])
    /// Decodes one component from the front of `bytes` and advances past it.
    static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> Self
}

extension UInt64: KeyComponent {
    public static func encodeComponent(_ value: UInt64, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> UInt64 {
        guard bytes.count >= 8 else { throw CodecError("expected 8 bytes for a UInt64 key component, found \(bytes.count)") }
        var value: UInt64 = 0
        for byte in bytes.prefix(8) { value = value << 8 | UInt64(byte) }
        bytes = bytes.dropFirst(8)
        return value
    }
}

extension Int64: KeyComponent {
    // Flipping the sign bit makes two's-complement values sort as unsigned bytes.
    public static func encodeComponent(_ value: Int64, into bytes: inout [UInt8]) {
        UInt64.encodeComponent(UInt64(bitPattern: value) ^ (1 << 63), into: &bytes)
    }

    public static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> Int64 {
        Int64(bitPattern: try UInt64.decodeComponent(from: &bytes) ^ (1 << 63))
    }
}

extension String: KeyComponent {
    // 0x00 inside the string becomes 0x00 0xFF; the component ends with 0x00 0x01. Order is kept:
    // a shorter string's terminator sorts before any continuation of a longer one.
    public static func encodeComponent(_ value: String, into bytes: inout [UInt8]) {
        for byte in value.utf8 {
            bytes.append(byte)
            if byte == 0 { bytes.append(0xFF) }
        }
        bytes.append(0x00)
        bytes.append(0x01)
    }

    public static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> String {
        var utf8: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0 {
                guard index + 1 < bytes.endIndex else { throw CodecError("truncated string key component") }
                switch bytes[index + 1] {
                case 0x01:
                    bytes = bytes[(index + 2)...]
                    guard let string = String(validating: utf8, as: UTF8.self) else { throw CodecError("string key component is not UTF-8") }
                    return string
                case 0xFF:
                    utf8.append(0)
                    index += 2
                    continue
                default:
                    throw CodecError("invalid escape in string key component")
                }
            }
            utf8.append(byte)
            index += 1
        }
        throw CodecError("unterminated string key component")
    }
}

extension UUID: KeyComponent {
    public static func encodeComponent(_ value: UUID, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
    }

    public static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> UUID {
        guard bytes.count >= 16 else { throw CodecError("expected 16 bytes for a UUID key component, found \(bytes.count)") }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { target in
            for (offset, byte) in bytes.prefix(16).enumerated() { target[offset] = byte }
        }
        bytes = bytes.dropFirst(16)
        return UUID(uuid: uuid)
    }
}

/// A key made of one component: `Key<UUID>`, `Key<String>` (escaped; prefer `StringKey` for a
/// whole-key string, which is stored as plain UTF-8).
public enum Key<A: KeyComponent>: Codec {
    public static func encode(_ value: A) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(value, into: &bytes)
        return bytes
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> A {
        var rest = bytes[...]
        let value = try A.decodeComponent(from: &rest)
        guard rest.isEmpty else { throw CodecError("\(rest.count) unexpected bytes after the key") }
        return value
    }
}

/// A two-part key, ordered by the first part then the second: `(organization, createdAt)`.
/// `prefix(_:)` gives the bytes that every key with that first part starts with.
public enum CompositeKey<A: KeyComponent, B: KeyComponent>: Codec {
    public static func encode(_ value: (A, B)) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(value.0, into: &bytes)
        B.encodeComponent(value.1, into: &bytes)
        return bytes
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> (A, B) {
        var rest = bytes[...]
        let a = try A.decodeComponent(from: &rest)
        let b = try B.decodeComponent(from: &rest)
        guard rest.isEmpty else { throw CodecError("\(rest.count) unexpected bytes after the key") }
        return (a, b)
    }

    /// The encoded first part: scan with it as a prefix to visit every key that starts with `first`.
    public static func prefix(_ first: A) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(first, into: &bytes)
        return bytes
    }
}

/// A three-part key, ordered part by part.
public enum CompositeKey3<A: KeyComponent, B: KeyComponent, C: KeyComponent>: Codec {
    public static func encode(_ value: (A, B, C)) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(value.0, into: &bytes)
        B.encodeComponent(value.1, into: &bytes)
        C.encodeComponent(value.2, into: &bytes)
        return bytes
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> (A, B, C) {
        var rest = bytes[...]
        let a = try A.decodeComponent(from: &rest)
        let b = try B.decodeComponent(from: &rest)
        let c = try C.decodeComponent(from: &rest)
        guard rest.isEmpty else { throw CodecError("\(rest.count) unexpected bytes after the key") }
        return (a, b, c)
    }

    public static func prefix(_ first: A) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(first, into: &bytes)
        return bytes
    }

    public static func prefix(_ first: A, _ second: B) -> [UInt8] {
        var bytes: [UInt8] = []
        A.encodeComponent(first, into: &bytes)
        B.encodeComponent(second, into: &bytes)
        return bytes
    }
}
