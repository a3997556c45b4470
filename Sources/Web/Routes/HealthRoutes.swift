import Hummingbird
import KV
import Portal

extension PortalRoutes {
    /// Liveness and readiness probes: public, JSON, and free of internals. Not ready names the
    /// storage problem: `unavailable` (closed), `read_only`, or `low_disk` (under
    /// `storage.min_free_mb`).
    func addHealthRoutes(core: PortalCore, minimumFreeBytes: UInt64) {
        get("/healthz", .public, .doc("getHealth", "Liveness: the process answers.", rate: .exempt)) { _, _ in
            Self.json(.ok, #"{"status":"ok"}"#)
        }
        get("/readyz", .public, .doc("getReadiness", "Readiness: storage is open, writable and has room (503 when not).", rate: .exempt, responses: [ResponseSpec(200, "Ready."), ResponseSpec(503, "Not ready; `checks` says why.")])) { _, _ in
            guard let problem = core.storageHealth(minimumFreeBytes: minimumFreeBytes).problem else {
                return Self.json(.ok, #"{"status":"ready","checks":{"storage":"ok"}}"#)
            }
            return Self.json(.serviceUnavailable, #"{"status":"not_ready","checks":{"storage":"\#(problem.rawValue)"}}"#)
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
