public import FoundationEssentials
import Synchronization

/// A 128-bit identifier that sorts by creation time: a UUIDv7 (RFC 9562), 48 bits of Unix
/// milliseconds, then a 12-bit counter that keeps ids from one process strictly increasing
/// within a millisecond, then 62 random bits. Stored as its 16 bytes, so recent-first listings
/// are reverse range scans.
public struct TimeOrderedID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, KeyComponent {
    public let uuid: UUID

    public init(uuid: UUID) { self.uuid = uuid }

    /// A new id, greater than every id this process generated before.
    public static func generate(now: Date = Date()) -> TimeOrderedID {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (time, counter) = lastIssued.withLock { last -> (UInt64, UInt16) in
            if milliseconds > last.milliseconds {
                last = (milliseconds, 0)
            } else if last.counter < 0x0FFF {
                last.counter += 1
            } else {
                // The counter ran out within one millisecond: borrow the next millisecond.
                last = (last.milliseconds + 1, 0)
            }
            return (last.milliseconds, last.counter)
        }
        var generator = SystemRandomNumberGenerator()
        let random: UInt64 = generator.next()
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: time >> (8 * (5 - index))) }
        bytes[6] = 0x70 | UInt8(counter >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: random >> 56) & 0x3F
        for index in 9..<16 { bytes[index] = UInt8(truncatingIfNeeded: random >> (8 * (15 - index))) }
        return TimeOrderedID(uuid: UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                               bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15])))
    }

    private static let lastIssued = Mutex<(milliseconds: UInt64, counter: UInt16)>((0, 0))

    /// When the id was generated (millisecond precision).
    public var date: Date {
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        let milliseconds = bytes.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    public var description: String { uuid.uuidString.lowercased() }

    /// Below and above every generated id: bounds for range scans.
    public static let lowest = TimeOrderedID(uuid: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
    public static let highest = TimeOrderedID(uuid: UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)))

    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    private enum CodingKeys: String, CodingKey { case uuid }

    /// Encoded as its lowercase string, as the API shows ids.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Reads the string form and, from records written before it, `{"uuid": "…"}`.
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer(), let text = try? container.decode(String.self) {
            guard let uuid = UUID(uuidString: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an id: \(text.prefix(64))")
            }
            self.uuid = uuid
        } else {
            uuid = try decoder.container(keyedBy: CodingKeys.self).decode(UUID.self, forKey: .uuid)
        }
    }

    public static func < (lhs: TimeOrderedID, rhs: TimeOrderedID) -> Bool {
        withUnsafeBytes(of: lhs.uuid.uuid) { a in withUnsafeBytes(of: rhs.uuid.uuid) { b in a.lexicographicallyPrecedes(b) } }
    }

    public static func encodeComponent(_ value: TimeOrderedID, into bytes: inout [UInt8]) {
        UUID.encodeComponent(value.uuid, into: &bytes)
    }

    public static func decodeComponent(from bytes: inout Slice<UnsafeRawBufferPointer>) throws(CodecError) -> TimeOrderedID {
        TimeOrderedID(uuid: try UUID.decodeComponent(from: &bytes))
    }
}
