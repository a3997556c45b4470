import Hummingbird
import Portal

/// Who may read `GET /metrics`: with `metrics.token` set, whoever sends it as a bearer token
/// (compared in constant time). Without one, anyone — but only while the portal is reached on
/// this host (no `server.public_url`, or a loopback one) or `metrics.allow_anonymous` says so:
/// a portal reachable from elsewhere keeps its metrics closed until a token is set.
struct MetricsAccess: Sendable {
    let token: String?
    let anonymous: Bool

    init(_ options: WebOptions) {
        token = options.metricsToken
        anonymous = options.anonymousMetrics || options.publicURL.map(Self.isLoopback) ?? true
    }

    /// Whether `url`'s host is `localhost` or a loopback address.
    static func isLoopback(_ url: String) -> Bool {
        guard let origin = SameOrigin.origin(of: url) else { return false }
        var host = String(origin.drop { $0 != "/" }.dropFirst(2))
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) } else { host = String(host.prefix { $0 != ":" }) }
        return host == "localhost" || (["127.0.0.0/8", "::1"].compactMap(NetworkRange.init).firstContaining(host) != nil)
    }

    func check(_ request: Request) throws {
        if let token {
            let sent = request.headers[.authorization] ?? ""
            guard Crypto.constantTimeEqual(Array(sent.utf8), Array("Bearer \(token)".utf8)) else {
                throw ProblemDetails(.unauthorized, detail: "Send the metrics bearer token.", headers: [.wwwAuthenticate: "Bearer"])
            }
        } else if !anonymous {
            throw ProblemDetails(.unauthorized, detail: "Metrics need a token on a portal reachable beyond this host: set metrics.token (or metrics.allow_anonymous = true).",
                                 headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}

extension PortalRoutes {
    /// `GET /metrics`, Prometheus text format, for whoever `MetricsAccess` lets in.
    func addMetricsRoutes(core: PortalCore, metrics: PortalMetrics, access: MetricsAccess) {
        get("/metrics", .public) { request, _ in
            try access.check(request)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition(environment: core.environment))))
        }
    }
}
