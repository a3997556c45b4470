import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
import Portal
import Testing
@testable import Web

/// `GET /metrics` in Prometheus text format, and its optional bearer token.
@Suite struct MetricsTests {
    @Test func requestsSignInsRefusalsAndStorageAreExposed() async throws {
        let harness = try await WebTestHarness()
        _ = try await harness.core.bootstrap(adminUsername: "admin", adminPassword: "admin-password-1")
        let metrics = PortalMetrics()
        let app = Application(router: buildRouter(core: harness.core, assets: try AssetCatalog(), metrics: metrics, options: WebOptions(metricsToken: "scrape")))
        let text = try await app.test(.router) { client in
            _ = try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"username":"admin","password":"wrong-password"}"#)) { $0.status }
            _ = try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"username":"admin","password":"admin-password-1"}"#)) { $0.status }
            _ = try await client.execute(uri: "/api/no-such-thing", method: .get) { $0.status }
            _ = try await client.execute(uri: "/healthz", method: .get) { $0.status }
            return try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape"]) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                return String(buffer: response.body)
            }
        }
        #expect(text.contains(#"portal_http_requests_total{route="/api/auth/login",method="POST",status="401"} 1"#))
        #expect(text.contains(#"portal_http_requests_total{route="/api/auth/login",method="POST",status="200"} 1"#))
        #expect(text.contains(#"portal_http_requests_total{route="NotFound",method="GET",status="404"} 1"#), "unmatched paths share one label")
        #expect(text.contains(#"portal_http_requests_total{route="/healthz",method="GET",status="200"} 1"#))
        #expect(text.contains(#"portal_http_request_duration_seconds_bucket{route="/healthz",method="GET",le="+Inf"} 1"#))
        #expect(text.contains(#"portal_sign_ins_total{method="password",outcome="failure"} 1"#))
        #expect(text.contains(#"portal_sign_ins_total{method="password",outcome="success"} 1"#))
        #expect(text.contains("portal_http_requests_in_flight 1"), "the scrape itself is in flight")
        #expect(text.contains("portal_rate_limited_total 0"))
        #expect(text.contains("# TYPE portal_storage_used_bytes gauge"))
        #expect(text.contains("portal_storage_commits "))
        #expect(!text.contains("admin-password-1") && !text.contains("wrong-password"))
    }

    @Test func aConfiguredTokenIsRequired() async throws {
        let harness = try await WebTestHarness()
        let app = Application(router: buildRouter(core: harness.core, assets: try AssetCatalog(), options: WebOptions(metricsToken: "s3cret-token")))
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response throws in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong"]) { response throws in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer s3cret-token"]) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("portal_http_requests_total"))
            }
        }
    }
}
