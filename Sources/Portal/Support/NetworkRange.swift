#if canImport(Glibc)
import Glibc
#endif

/// An IP network in CIDR notation (`169.254.0.0/16`, `fe80::/10`, or one address), for the
/// lists of trusted proxies and of addresses tools may not reach.
///
/// Guarantees: IPv4 and IPv6 are parsed by the C library (`inet_pton`), never by hand; an
/// IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is matched as the IPv4 address it
/// carries, so a mapped spelling cannot slip past an IPv4 rule.
public struct NetworkRange: Sendable, Equatable, CustomStringConvertible {
    /// 4 or 16 bytes, the host bits cleared.
    let network: [UInt8]
    let prefixLength: Int

    public let description: String

    /// Parses `address` or `address/prefix`; `nil` when it is neither.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.bytes(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        let prefix: Int
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maximum).contains(parsed), !parts[1].hasPrefix("+") else { return nil }
            prefix = parsed
        } else {
            prefix = maximum
        }
        network = Self.masked(address, prefix)
        prefixLength = prefix
        description = text
    }

    /// Whether `address` (a numeric IPv4 or IPv6 address) lies in the range. Text that is not
    /// an address is in no range.
    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return contains(bytes: bytes)
    }

    func contains(bytes: [UInt8]) -> Bool {
        bytes.count == network.count && Self.masked(bytes, prefixLength) == network
    }

    /// Whether `text` is a numeric IPv4 or IPv6 address.
    public static func isAddress(_ text: String) -> Bool { bytes(text) != nil }

    /// Who a client address stands for when counting requests, connections and failed
    /// sign-ins: an IPv4 address itself (also when written IPv4-mapped), an IPv6 address's /64
    /// (one subscriber gets a whole /64, so counting single IPv6 addresses would give each
    /// attacker endless fresh ones).
    /// Text that is not an address is returned as it is.
    public static func subject(_ address: String) -> String {
        guard let bytes = bytes(address) else { return address }
        guard bytes.count == 16 else { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// The address's bytes: 4 for IPv4 (also when written IPv4-mapped in IPv6), else 16.
    static func bytes(_ text: String) -> [UInt8]? {
        // A zone (`fe80::1%eth0`) names an interface, not part of the address.
        let text = String(text.prefix { $0 != "%" })
        var four = in_addr()
        if inet_pton(AF_INET, text, &four) == 1 { return withUnsafeBytes(of: &four) { Array($0) } }
        var six = in6_addr()
        guard inet_pton(AF_INET6, text, &six) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &six) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes.suffix(4)) }
        return bytes
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xFF) >> bits)
        }
    }
}

extension [NetworkRange] {
    /// The first range holding `address`, or `nil`.
    public func firstContaining(_ address: String) -> NetworkRange? { first { $0.contains(address) } }
}
