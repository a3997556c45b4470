import Hummingbird
import Portal

/// Who may read `GET /metrics`: with `metrics.token` set, whoever sends it as a bearer token
/// (compared in constant time). Without one, only requests from this host — a loopback peer,
/// not forwarded by a proxy — while `server.public_url` is unset or loopback; anyone when
/// `metrics.allow_anonymous` says so. A portal reachable from elsewhere, directly or through a
/// proxy, keeps its metrics closed until a token is set.
struct MetricsAccess: Sendable {
    let token: String?
    let anonymousFromAnywhere: Bool
    let anonymousFromThisHost: Bool

    init(_ options: WebOptions) {
        token = options.metricsToken
        anonymousFromAnywhere = options.anonymousMetrics
        anonymousFromThisHost = options.publicURL.map(Self.isLoopback) ?? true
    }

    static let loopback = ["127.0.0.0/8", "::1"].compactMap(NetworkRange.init)

    /// Whether `url`'s host is `localhost` or a loopback address.
    static func isLoopback(_ url: String) -> Bool {
        guard let origin = SameOrigin.origin(of: url) else { return false }
        var host = String(origin.drop { $0 != "/" }.dropFirst(2))
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) } else { host = String(host.prefix { $0 != ":" }) }
        return host == "localhost" || loopback.firstContaining(host) != nil
    }

    func check(_ request: Request, _ context: PortalContext) throws {
        if let token {
            let sent = request.headers[.authorization] ?? ""
            guard Crypto.constantTimeEqual(Array(sent.utf8), Array("Bearer \(token)".utf8)) else {
                throw ProblemDetails(.unauthorized, detail: "Send the metrics bearer token.", headers: [.wwwAuthenticate: "Bearer"])
            }
            return
        }
        let fromThisHost = Self.loopback.firstContaining(context.clientAddress) != nil
            && request.headers[.xForwardedFor] == nil && request.headers[.forwarded] == nil
        guard anonymousFromAnywhere || (anonymousFromThisHost && fromThisHost) else {
            throw ProblemDetails(.unauthorized, detail: "Metrics need a token beyond this host: set metrics.token (or metrics.allow_anonymous = true).",
                                 headers: [.wwwAuthenticate: "Bearer"])
        }
    }
}

extension PortalRoutes {
    /// `GET /metrics`, Prometheus text format, for whoever `MetricsAccess` lets in.
    func addMetricsRoutes(core: PortalCore, metrics: PortalMetrics, access: MetricsAccess) {
        get("/metrics", .public, .doc("getMetrics", "Prometheus metrics (text exposition format).", rate: .exempt, responses: [ResponseSpec(200, "The metrics.", contentType: "text/plain")])) { request, context in
            try access.check(request, context)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition(environment: core.environment))))
        }
    }
}
