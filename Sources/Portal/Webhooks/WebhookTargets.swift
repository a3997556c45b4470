import FoundationEssentials

/// Which URLs webhooks may be sent to. Guarantees: only `http`/`https` URLs with a host and
/// no credentials in them; the host is resolved and the *numeric* address checked before any
/// connection (loopback, private, shared, link-local, cloud metadata, multicast and reserved
/// ranges are refused unless `allowed` holds the address), and the connection then goes to
/// exactly that address, so a name cannot be re-pointed between the check and the send.
public struct WebhookTargets: Sendable {
    /// Never reached by a webhook unless `allowed` says so.
    public static let refusedNetworks = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32",
        // IPv6 forms that carry an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible), which
        // may be a private one.
        "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96",
    ]

    let refused: [NetworkRange]
    let allowed: [NetworkRange]

    /// `allowed`: networks a webhook may reach although they are refused by default
    /// (`webhooks.allowed_networks`, e.g. `127.0.0.0/8` for a receiver on this host).
    public init(allowed: [NetworkRange] = []) {
        refused = Self.refusedNetworks.compactMap { NetworkRange($0) }
        self.allowed = allowed
    }

    /// The parts of a webhook URL.
    struct Target: Equatable {
        let url: String
        let host: String
    }

    /// Checks the URL's form; throws `PortalError.invalid` naming what is wrong.
    func parse(_ url: String) throws -> Target {
        guard url.count <= 2048 else { throw PortalError.invalid("url is at most 2048 characters") }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw PortalError.invalid("url is not a URL")
        }
        guard scheme == "https" || scheme == "http" else { throw PortalError.invalid("url must be http or https, not \(scheme)") }
        guard components.user == nil, components.password == nil else {
            throw PortalError.invalid("url must not carry credentials (user:password@): the signature authenticates the portal")
        }
        guard var host = components.host, !host.isEmpty else { throw PortalError.invalid("url has no host") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return Target(url: url, host: host)
    }

    /// How a URL appears in the audit trail and in events: scheme, host and port only. Paths
    /// and queries often carry the receiver's credential (Slack, Teams, Discord URLs).
    public static func shown(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(a URL)" }
        let port = components.port.map { ":\($0)" } ?? ""
        let rest = (components.path.isEmpty || components.path == "/") && components.query == nil ? "" : "/…"
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host  // URLComponents keeps or drops the brackets by version
        return "\(scheme)://\(bracketed)\(port)\(rest)"
    }

    /// Why `address` may not be reached, or `nil` when it may.
    public func refusal(for address: String) -> String? {
        if allowed.firstContaining(address) != nil { return nil }
        guard let range = refused.firstContaining(address) else { return nil }
        return "\(address) is in \(range), which webhooks may not reach (webhooks.allowed_networks can allow it)"
    }

    /// The checked address to connect to for `url`; throws `PortalError.invalid` naming the
    /// reason when the URL is malformed, does not resolve, or resolves to a refused address.
    /// Blocking (the resolver): call off the cooperative pool.
    func resolve(_ url: String) throws -> (target: Target, address: String) {
        let target = try parse(url)
        let address: String
        if NetworkRange.isAddress(target.host) {
            address = target.host
        } else {
            let resolved = AddressGuard.firstAddress(of: target.host)
            guard let found = resolved.address else { throw PortalError.invalid("url's host \(target.host) does not resolve: \(resolved.error ?? "no address")") }
            address = found
        }
        if let reason = refusal(for: address) { throw PortalError.invalid("url's host \(target.host) is refused: \(reason)") }
        return (target, address)
    }
}
