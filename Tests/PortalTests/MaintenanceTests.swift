import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// The portal's own timers, run by the jobs runner on an injected clock: the hourly prune
/// removes audit entries, consumed outbox entries and finished jobs past their retention.
@Suite struct MaintenanceTests {
    @Test(.timeLimit(.minutes(1))) func thePruneTimerRemovesWhatIsPastItsRetention() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-maintenance-\(UUID().uuidString)").path
        let start = Date()
        let clock = ManualClock(start)
        let core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000), clock: clock)
        let hour = Duration.seconds(3600)
        try await core.resumeAfterStart(defaultEmbedder: .hashing, maintenance: Maintenance(expirySweep: .seconds(60), auditRetention: hour, eventRetention: hour, jobRetention: hour))
        let services = core.startServices()
        for number in 1...5 {
            try await core.securityEvents.record(SecurityEvent(kind: .organizationUpdated, userID: nil, username: "old", organizationID: nil,
                                                               detail: "change \(number)", time: start))
        }
        let finished = try await core.jobs.enqueue(JobRequest(kind: Maintenance.expiryJob, idempotencyKey: "one-off sweep"))
        #expect(try await core.jobs.waitUntilFinal(idempotencyKey: "one-off sweep")?.state == .succeeded)
        try await core.waitForEventConsumers()
        #expect(try core.outbox.entries(after: 0, limit: 100).count == 5)

        // Nothing is older than an hour yet: the first prune (due an hour after the start)
        // has not run, and a sweep does not prune.
        #expect(try core.audit.page(limit: 100) { $0.detail.hasPrefix("change") }.count == 5)

        // Two hours later the prune timer is due, runs, and everything above is past its retention.
        clock.set(start.addingTimeInterval(7200))
        core.jobs.wake()
        // Until the prune has removed them and its timer is planned again (its end recorded:
        // the removals alone are seen while the timer's job is still running).
        try await core.jobs.waitForWatchers {
            let timer = try core.jobs.job(idempotencyKey: "timer:" + Maintenance.pruneJob)
            return try core.outbox.entries(after: 0, limit: 1).isEmpty && core.jobs.job(finished.id) == nil
                && timer?.state == .pending && (timer?.dueAt ?? .distantPast) > clock.now()
        }
        #expect(try core.audit.page(limit: 100) { $0.detail.hasPrefix("change") }.isEmpty)
        #expect(try core.audit.verify().isIntact, "what remains still verifies")
        let timer = try #require(try core.jobs.job(idempotencyKey: "timer:" + Maintenance.pruneJob))
        #expect(timer.state == .pending && timer.dueAt > clock.now(), "planned again")
        try await services.stop()
    }
}
