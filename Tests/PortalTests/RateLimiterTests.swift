import Foundation
import KV
import Testing
@testable import Portal

@Suite struct RateLimiterTests {
    static func environment(_ directory: String) throws -> KV.Environment {
        var options = KV.Environment.Options()
        options.syncOnCommit = false
        return try KV.Environment(directory: directory, options: options)
    }

    @Test func bucketsRefuseOverBudgetAndRefillWithTime() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-rate-\(UUID().uuidString)").path
        let limiter = try RateLimiter(environment: try Self.environment(directory), limits: [.write: RateLimit(perMinute: 60, burst: 3)])
        let start = Date(timeIntervalSince1970: 1_000_000)
        for expected in [2, 1, 0] {
            let decision = limiter.take(.write, subject: "ip:a", now: start)
            #expect(decision.allowed && decision.remaining == expected && decision.limit == 3)
        }
        let refused = limiter.take(.write, subject: "ip:a", now: start)
        #expect(!refused.allowed && refused.retryAfter == 1)
        #expect(limiter.take(.write, subject: "ip:b", now: start).allowed, "subjects are independent")
        #expect(limiter.take(.read, subject: "ip:a", now: start).allowed, "classes are independent")
        #expect(limiter.take(.write, subject: "ip:a", now: start.addingTimeInterval(1)).allowed, "one token a second")
        #expect(!limiter.take(.write, subject: "ip:a", now: start.addingTimeInterval(1)).allowed)
    }

    @Test func flushedStateSurvivesAReopenAndFullBucketsAreDropped() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-rate-\(UUID().uuidString)").path
        let limits: [RateClass: RateLimit] = [.signIn: RateLimit(perMinute: 1, burst: 2)]
        let now = Date()
        do {
            let environment = try Self.environment(directory)
            let limiter = try RateLimiter(environment: environment, limits: limits)
            _ = limiter.take(.signIn, subject: "ip:spent", now: now)
            _ = limiter.take(.signIn, subject: "ip:spent", now: now)
            _ = limiter.take(.signIn, subject: "ip:long-ago", now: now.addingTimeInterval(-3_600))
            #expect(try await limiter.flush(now: now) == 2)
            #expect(try await limiter.flush(now: now) == 0, "nothing changed since")
            let stored = try environment.read { try $0.count(try environment.table("rate_limits", key: StringKey.self, value: RawBytes.self)) }
            #expect(stored == 1, "the refilled bucket is not stored")
            environment.close()
        }
        let reopened = try RateLimiter(environment: try Self.environment(directory), limits: limits)
        #expect(!reopened.take(.signIn, subject: "ip:spent", now: now.addingTimeInterval(1)).allowed)
        #expect(reopened.take(.signIn, subject: "ip:long-ago", now: now).allowed)
    }
}
