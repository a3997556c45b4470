import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Keeps tools that connect where a person tells them (`host.tcp-check`, `host.http-check`)
/// away from addresses they must never reach: cloud instance metadata and other link-local
/// services (`tools.denied_networks`).
///
/// Guarantees: the decision is made on the resolved numeric address, not the name, so no
/// spelling (a decimal IPv4, an IPv4-mapped IPv6 address, a DNS name pointing there) slips
/// past; callers then connect to exactly the address that was checked.
struct AddressGuard: Sendable {
    let denied: [NetworkRange]

    /// The denied range holding `address`, or `nil` when it may be reached.
    func rule(for address: String) -> NetworkRange? { denied.firstContaining(address) }

    /// Throws when `address` may not be reached.
    func check(_ address: String, for host: String) throws {
        if let rule = rule(for: address) {
            throw ToolError.executionFailed("refused: \(host) is \(address), in tools.denied_networks (\(rule))")
        }
    }

    /// The first address `host` resolves to, checked; `nil` with the resolver's message when it
    /// does not resolve. Blocking: call off the cooperative pool.
    func resolve(_ host: String) throws -> (address: String?, error: String?) {
        let resolved = Self.firstAddress(of: host)
        if let address = resolved.address { try check(address, for: host) }
        return resolved
    }

    /// The first address `host` resolves to, numeric, or the resolver's message. Blocking.
    static func firstAddress(of host: String) -> (address: String?, error: String?) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else { return (nil, String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        guard let address = BuiltinTools.numericHost(list.pointee.ai_addr, list.pointee.ai_addrlen) else { return (nil, "no usable address") }
        return (address, nil)
    }
}
