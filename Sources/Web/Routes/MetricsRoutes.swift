import Hummingbird
import Portal

extension PortalRoutes {
    /// `GET /metrics`, Prometheus text format. Public unless `token` is set, in which case it
    /// needs `Authorization: Bearer <token>` (compared in constant time).
    func addMetricsRoutes(core: PortalCore, metrics: PortalMetrics, token: String?) {
        get("/metrics", .public) { request, _ in
            if let token {
                let sent = request.headers[.authorization] ?? ""
                guard Crypto.constantTimeEqual(Array(sent.utf8), Array("Bearer \(token)".utf8)) else {
                    throw ProblemDetails(.unauthorized, detail: "Send the metrics bearer token.", headers: [.wwwAuthenticate: "Bearer"])
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition(environment: core.environment))))
        }
    }
}
