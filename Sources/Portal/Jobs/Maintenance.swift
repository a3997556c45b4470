public import FoundationEssentials
import KV

/// The portal's own timers: deleting expired records and overdue approval requests, and
/// pruning what is past its retention (audit entries, consumed outbox entries, finished jobs).
public struct Maintenance: Sendable, Equatable {
    /// How often expired records are deleted (`storage.expiry_sweep_seconds`).
    public var expirySweep: Duration
    /// Audit entries older than this are pruned (`audit.retention_days`).
    public var auditRetention: Duration
    /// Outbox entries every consumer has passed are kept this long (`events.retention_hours`).
    public var eventRetention: Duration
    /// Finished jobs are kept this long (`jobs.retention_hours`).
    public var jobRetention: Duration

    public init(expirySweep: Duration = .seconds(60), auditRetention: Duration = .seconds(365 * 86_400),
                eventRetention: Duration = .seconds(7 * 86_400), jobRetention: Duration = .seconds(7 * 86_400)) {
        self.expirySweep = expirySweep
        self.auditRetention = auditRetention
        self.eventRetention = eventRetention
        self.jobRetention = jobRetention
    }

    static let expiryJob = "maintenance.expiry"
    static let pruneJob = "maintenance.prune"

    func schedule(on jobs: Jobs) async throws {
        try await jobs.schedule(Self.expiryJob, kind: Self.expiryJob, .every(seconds: max(Int(expirySweep.components.seconds), 1)))
        try await jobs.schedule(Self.pruneJob, kind: Self.pruneJob, .every(seconds: 3600), payload: JSONAny(encoding: Retention(
            auditSeconds: auditRetention.timeInterval, eventSeconds: eventRetention.timeInterval, jobSeconds: jobRetention.timeInterval)))
    }

    /// What the prune timer carries: how long each kind of record is kept, in seconds.
    struct Retention: Codable {
        let auditSeconds: Double
        let eventSeconds: Double
        let jobSeconds: Double
    }

    static func register(on jobs: Jobs, core: PortalCore) {
        jobs.register(JobKind(expiryJob, concurrency: 1, maxAttempts: 1) { [weak core] _ in
            guard let core else { return }
            _ = try await core.environment.sweepExpired()
            _ = try await core.runs.expireOverdue()
        })
        jobs.register(JobKind(pruneJob, concurrency: 1, maxAttempts: 1) { [weak core] context in
            guard let core else { return }
            let retention = try context.payload(as: Retention.self), now = core.clock.now()
            // Audit entries carry their events: none leaves before every consumer has read it.
            _ = try await core.audit.prune(before: now.addingTimeInterval(-retention.auditSeconds), keepingEventsAfter: core.outbox.slowestCursor())
            _ = try await core.outbox.prune(before: now.addingTimeInterval(-retention.eventSeconds))
            _ = try await core.jobs.prune(before: now.addingTimeInterval(-retention.jobSeconds))
            _ = try await core.webhooks.trimLogs()
        })
    }
}
