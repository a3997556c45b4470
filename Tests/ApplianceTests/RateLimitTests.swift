import Foundation
import TestSupport
import Testing

/// Rate limits through the real binary: over budget is 429 with `Retry-After` and
/// `RateLimit-*` headers, and a restart does not hand out a fresh budget.
@Suite struct RateLimitTests {
    @Test func theBudgetSurvivesARestart() throws {
        // Five reads at once, then one per minute: the sixth read within the test is refused.
        let limits = ["PORTAL_RATELIMIT_READ_BURST": "5", "PORTAL_RATELIMIT_READ_PER_MINUTE": "1"]
        let portal = try PortalProcess(environment: limits)
        for index in 0..<5 {
            let response = try RawHTTPConnection.get(port: portal.port, "/api/me")
            #expect(response.status == 401, "read \(index) is within budget (and anonymous)")
            #expect(response.header("RateLimit-Limit") == "5")
            #expect(response.header("RateLimit-Remaining") == String(4 - index))
        }
        let refused = try RawHTTPConnection.get(port: portal.port, "/api/me")
        #expect(refused.status == 429)
        #expect(refused.header("Content-Type") == "application/problem+json")
        let retry = try #require(refused.header("Retry-After").flatMap(Int.init))
        #expect(retry >= 1 && retry <= 60)
        #expect(refused.header("RateLimit-Remaining") == "0")
        // Health probes are never limited.
        #expect(try RawHTTPConnection.get(port: portal.port, "/healthz").status == 200)

        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
        let restarted = try PortalProcess(dataDirectory: portal.dataDirectory, environment: limits)
        #expect(try RawHTTPConnection.get(port: restarted.port, "/api/me").status == 429, "the spent budget was persisted")
        restarted.signal(SIGTERM)
        #expect(restarted.waitForExit() == 0)
    }
}
