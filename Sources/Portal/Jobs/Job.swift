public import FoundationEssentials

/// When a job runs again after it ran: never, every interval, or at the times a cron
/// expression names in a time zone.
public enum JobSchedule: Codable, Sendable, Equatable {
    case once
    case every(seconds: Int)
    case cron(expression: String, timeZone: String)

    /// The first time after `instant` it names; `nil` for `.once` (or a cron expression that
    /// names no time in the next years).
    public func next(after instant: Date) throws -> Date? {
        switch self {
        case .once: nil
        case let .every(seconds): instant.addingTimeInterval(Double(max(seconds, 1)))
        case let .cron(expression, timeZone): try CronSchedule(expression, timeZone: try ZoneInfo.named(timeZone)).next(after: instant)
        }
    }

    /// Throws for an unparsable cron expression or an unknown time zone.
    public func validate() throws {
        if case let .cron(expression, timeZone) = self { _ = try CronSchedule(expression, timeZone: try ZoneInfo.named(timeZone)) }
    }
}

/// A unit of background work, stored in LMDB until it is done.
public struct Job: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Waiting for its due time.
        case pending
        /// Claimed by a worker, whose lease ends at `leaseUntil`.
        case running
        case succeeded
        /// Gave up after its last attempt; `lastError` says why.
        case dead
        case cancelled

        public var isFinal: Bool { self == .succeeded || self == .dead || self == .cancelled }
    }

    public var schemaVersion = 1
    public let id: UUID
    public let kind: String
    public var payload: JSONAny
    public let idempotencyKey: String?
    public var state: State
    public var dueAt: Date
    /// Attempts started so far (the running one included).
    public var attempts: Int
    public var maxAttempts: Int
    public var lastError: String?
    public var leaseUntil: Date?
    /// The worker holding the lease.
    public var worker: UUID?
    public var schedule: JobSchedule
    /// Asked while it ran: it ends `cancelled` instead of being retried or repeated.
    public var cancelRequested: Bool?
    public let createdAt: Date
    public var updatedAt: Date
}

/// What to enqueue.
public struct JobRequest: Sendable {
    public var kind: String
    public var payload: JSONAny
    /// At most one unfinished job per key: enqueueing again returns the existing one.
    public var idempotencyKey: String?
    /// `nil`: due now.
    public var dueAt: Date?
    public var schedule: JobSchedule
    /// `nil`: the kind's own.
    public var maxAttempts: Int?

    public init(kind: String, payload: JSONAny = .null, idempotencyKey: String? = nil, dueAt: Date? = nil, schedule: JobSchedule = .once, maxAttempts: Int? = nil) {
        self.kind = kind
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.dueAt = dueAt
        self.schedule = schedule
        self.maxAttempts = maxAttempts
    }
}

/// A kind of job and the code that runs it.
public struct JobKind: Sendable {
    public let name: String
    /// At most this many of its jobs run at once in this process.
    public let concurrency: Int
    public let maxAttempts: Int
    /// The first retry waits about this long; each further one twice as long (with jitter), up
    /// to `maxBackoff`.
    public let backoff: Duration
    public let maxBackoff: Duration
    public let handler: @Sendable (JobContext) async throws -> Void

    public init(_ name: String, concurrency: Int = 4, maxAttempts: Int = 5, backoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(15 * 60),
                handler: @escaping @Sendable (JobContext) async throws -> Void) {
        precondition(concurrency > 0 && maxAttempts > 0)
        self.name = name
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        self.handler = handler
    }

    /// The wait before attempt `attempts + 1`: exponential with full jitter in its upper half.
    func delay(afterAttempt attempts: Int, random: Double = Double.random(in: 0.5...1)) -> Duration {
        let exponential = backoff.timeInterval * Double(UInt64(1) << UInt64(min(max(attempts - 1, 0), 40)))
        return .milliseconds(Int(min(exponential, maxBackoff.timeInterval) * random * 1000))
    }
}

/// What a handler is given.
public struct JobContext: Sendable {
    public let job: Job
    /// 1 for the first attempt.
    public var attempt: Int { job.attempts }

    /// The job's payload as `T`; one that does not decode fails the job for good.
    public func payload<T: Decodable>(as type: T.Type) throws -> T {
        do { return try job.payload.decode(as: type) } catch { throw PermanentJobFailure("the payload is not a \(T.self): \(error)") }
    }
}

/// A job the handler wants ended without retrying (the input can never work).
public struct PermanentJobFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
