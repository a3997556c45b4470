import Hummingbird
import KV
import Portal

extension PortalRoutes {
    /// Liveness and readiness probes: public, JSON, and free of internals.
    func addHealthRoutes(core: PortalCore) {
        get("/healthz", .public) { _, _ in
            Self.json(.ok, #"{"status":"ok"}"#)
        }
        get("/readyz", .public) { _, _ in
            let storage = core.storageHealth()
            return storage.isReady
                ? Self.json(.ok, #"{"status":"ready","checks":{"storage":"ok"}}"#)
                : Self.json(.serviceUnavailable, #"{"status":"not_ready","checks":{"storage":"unavailable"}}"#)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}
