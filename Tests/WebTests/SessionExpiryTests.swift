import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// Sessions end 8 hours after their last use or 7 days after sign-in, whichever comes first,
/// proven through the HTTP edge by moving the portal's clock: the expired cookie gets 401 and
/// the stored session is gone.
@Suite struct SessionExpiryTests {
    static func storedSession(_ harness: WebTestHarness, cookie: String) throws -> Bool {
        let token = String(cookie.dropFirst("portal_session=".count))
        let sessions = try harness.environment.expiringTable("sessions", key: StringKey.self, value: RawBytes.self)
        return try harness.environment.read { txn in try txn.get(sessions, Sessions.key(token)) != nil }
    }

    static func me(_ client: some TestClientProtocol, _ cookie: String) async throws -> HTTPResponse.Status {
        try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: cookie]) { $0.status }
    }

    @Test func anIdleSessionEndsAndActivityPushesTheIdleDeadline() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let vera = try await AccessTests.login(client, "vera", "vera-password-1")
            // Just under eight hours idle: still signed in, and this request is activity.
            harness.clock.advance(by: .seconds(8 * 3600 - 60))
            #expect(try await Self.me(client, vera.cookie) == .ok)
            // Another such stretch: 16 hours after sign-in, but never 8 idle.
            harness.clock.advance(by: .seconds(8 * 3600 - 60))
            #expect(try await Self.me(client, vera.cookie) == .ok)
            #expect(try Self.storedSession(harness, cookie: vera.cookie))
            // Eight hours and a second without use: the session is over, and deleted.
            harness.clock.advance(by: .seconds(8 * 3600 + 1))
            #expect(try await Self.me(client, vera.cookie) == .unauthorized)
            #expect(try !Self.storedSession(harness, cookie: vera.cookie))
            // It stays over when time moves back within the old deadline (nothing left to revive).
            harness.clock.advance(by: .seconds(-3600))
            #expect(try await Self.me(client, vera.cookie) == .unauthorized)
        }
    }

    @Test func activityNeverExtendsTheAbsoluteLifetime() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let vera = try await AccessTests.login(client, "vera", "vera-password-1")
            // Used every seven hours for just under seven days.
            var elapsed = 0
            while elapsed + 7 * 3600 < 7 * 24 * 3600 {
                harness.clock.advance(by: .seconds(7 * 3600))
                elapsed += 7 * 3600
                #expect(try await Self.me(client, vera.cookie) == .ok, "after \(elapsed / 3600) h")
            }
            // Seven days after sign-in, the last use only hours ago: over.
            harness.clock.advance(by: .seconds(7 * 24 * 3600 - elapsed + 1))
            #expect(try await Self.me(client, vera.cookie) == .unauthorized)
            #expect(try !Self.storedSession(harness, cookie: vera.cookie))
            // A new sign-in starts a new week.
            let again = try await AccessTests.login(client, "vera", "vera-password-1")
            #expect(try await Self.me(client, again.cookie) == .ok)
        }
    }

    /// Sign-in answers with a cookie that lives as long as the absolute lifetime, and the idle
    /// deadline is moved at most once a minute (reads do not each cost a write).
    @Test func theIdleDeadlineIsWrittenAtMostOncePerMinute() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let vera = try await AccessTests.login(client, "vera", "vera-password-1")
            // The sign-in's event has reached the outbox consumers (whose cursors are writes).
            try await harness.core.waitForEventConsumers()
            let commits = harness.environment.writerStatistics.batches
            for _ in 0..<5 { #expect(try await Self.me(client, vera.cookie) == .ok) }
            #expect(harness.environment.writerStatistics.batches == commits, "reads within a minute write nothing")
            harness.clock.advance(by: .seconds(61))
            #expect(try await Self.me(client, vera.cookie) == .ok)
            #expect(harness.environment.writerStatistics.batches == commits + 1, "the first read after a minute moves the deadline")
        }
    }
}
