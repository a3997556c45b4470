public import Hummingbird
public import Portal

/// Finds the client's address behind trusted reverse proxies (`server.trusted_proxies`).
///
/// Guarantees: `X-Forwarded-For` is read only when the peer itself is a trusted proxy, and
/// then from the right: the first address that is not a trusted proxy is the client, so a
/// client cannot choose its address by sending the header itself (its value ends up on the
/// left, behind what the proxy appended) — as long as no client's own address lies in a
/// trusted range. Hops written with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`) count by
/// their address. With no trusted proxies (the default) the peer's address is the client's.
public struct ClientAddressMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let trustedProxies: [NetworkRange]

    public init(trustedProxies: [NetworkRange]) {
        self.trustedProxies = trustedProxies
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !trustedProxies.isEmpty, trustedProxies.firstContaining(context.clientAddress) != nil else { return try await next(request, context) }
        var context = context
        context.clientAddress = Self.client(forwardedFor: request.headers[values: .xForwardedFor], peer: context.clientAddress, trusted: trustedProxies)
        return try await next(request, context)
    }

    /// The client among the hops of `X-Forwarded-For` (one or more headers, comma-separated,
    /// oldest hop first) sent by the trusted `peer`.
    static func client(forwardedFor headers: [String], peer: String, trusted: [NetworkRange]) -> String {
        var client = peer
        let hops = headers.flatMap { $0.split(separator: ",") }.map { hostOfHop($0.trimmingWhitespace()) }
        for hop in hops.reversed() {
            // Something that is not an address ends the chain: nothing left of it can be trusted.
            guard NetworkRange.isAddress(hop) else { break }
            client = hop
            if trusted.firstContaining(hop) == nil { break }
        }
        return client
    }
}

/// The address of one `X-Forwarded-For` hop, without brackets or a port.
func hostOfHop(_ hop: String) -> String {
    if hop.hasPrefix("["), let close = hop.firstIndex(of: "]") { return String(hop[hop.index(after: hop.startIndex)..<close]) }
    if hop.filter({ $0 == ":" }).count == 1 { return String(hop.prefix { $0 != ":" }) }
    return hop
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
