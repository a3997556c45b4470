public import FoundationEssentials
public import KV
public import Logging
public import ServiceLifecycle
import Synchronization

/// Durable background work and timers, run by one service in the portal's ServiceGroup.
///
/// Guarantees: a job is stored, in the caller's transaction when enqueued with one, before
/// anything runs it; it runs when due (`dueAt`, or the next time its schedule names), at most
/// `concurrency` of a kind at once; a worker holds a lease it renews while it runs, so a job
/// whose process died is claimed again once the lease ends (handlers must therefore be
/// idempotent, or detect a repeated attempt through `JobContext.attempt`); a failure is
/// retried with exponential backoff and jitter until `maxAttempts`, then the job is dead
/// with the reason. A recurring job (`every`, `cron`) is due again at its next time after
/// each run; after its last failed attempt it skips to the next time rather than dying.
/// Waiting is driven by events: the runner sleeps until the earliest due time or until a
/// job is enqueued or finishes. On graceful shutdown it claims nothing more, waits for the
/// running jobs up to `shutdownGrace`, and returns the others to due.
public final class Jobs: Service, Sendable {
    let environment: Environment
    let jobs: Table<Key<UUID>, JSONValue<Job>>
    /// The one index every pending or running job is in, per kind in the order they are due:
    /// (kind, due time or, while running, lease end in ms since 1970, id) → nothing.
    let due: Table<CompositeKey3<String, UInt64, UUID>, RawBytes>
    let keys: Table<StringKey, JSONValue<UUID>>
    let clock: any WallClock
    let logger = Logger(label: "portal.jobs")
    let lease: Duration
    let shutdownGrace: Duration
    let workerID = UUID()
    private let kinds = Mutex<[String: JobKind]>([:])
    private let signal = WakeSignal()
    private let held = Mutex<Set<UUID>>([])
    private let watchers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])
    /// Work that need not survive a restart but must not outlive the service (see `detach`).
    private let detached = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)

    init(environment: Environment, clock: any WallClock, lease: Duration = .seconds(30), shutdownGrace: Duration = .seconds(25)) throws {
        self.environment = environment
        self.clock = clock
        self.lease = lease
        self.shutdownGrace = shutdownGrace
        jobs = try environment.table("jobs", key: Key<UUID>.self, value: JSONValue<Job>.self)
        due = try environment.table("jobs_due", key: CompositeKey3<String, UInt64, UUID>.self, value: RawBytes.self)
        keys = try environment.table("jobs_keys", key: StringKey.self, value: JSONValue<UUID>.self)
    }

    /// Makes `kind` runnable in this process. Register every kind before `run`.
    public func register(_ kind: JobKind) {
        kinds.withLock { $0[kind.name] = kind }
        signal.wake()
    }

    static func millis(_ date: Date) -> UInt64 { UInt64(max(date.timeIntervalSince1970 * 1000, 0).rounded(.down)) }

    /// `job`'s entry in the due index at `date`.
    static func dueKey(_ job: Job, at date: Date) -> (String, UInt64, UUID) { (job.kind, millis(date), job.id) }

    // MARK: Enqueueing

    /// Stores a job in the caller's transaction; it becomes runnable when that commits. With
    /// an idempotency key held by an unfinished job, returns that job instead.
    @discardableResult
    @available(*, noasync)
    public func enqueue(_ request: JobRequest, in txn: borrowing WriteTransaction) throws -> Job {
        if let key = request.idempotencyKey, let existingID = try txn.get(keys, key), let existing = try txn.get(jobs, existingID), !existing.state.isFinal {
            return existing
        }
        try request.schedule.validate()
        let now = clock.now()
        var dueAt = request.dueAt ?? now
        if request.dueAt == nil, case .cron = request.schedule, let next = try request.schedule.next(after: now) { dueAt = next }
        let maxAttempts = request.maxAttempts ?? kinds.withLock { $0[request.kind]?.maxAttempts } ?? 5
        let job = Job(id: UUID(), kind: request.kind, payload: request.payload, idempotencyKey: request.idempotencyKey, state: .pending, dueAt: dueAt,
                      attempts: 0, maxAttempts: maxAttempts, lastError: nil, leaseUntil: nil, worker: nil, schedule: request.schedule,
                      cancelRequested: nil, createdAt: now, updatedAt: now)
        try txn.put(jobs, job.id, job)
        try txn.put(due, Self.dueKey(job, at: dueAt), [])
        if let key = request.idempotencyKey { try txn.put(keys, key, job.id) }
        txn.afterCommit { [signal] in signal.wake() }
        return job
    }

    @discardableResult
    public func enqueue(_ request: JobRequest) async throws -> Job {
        try await environment.write { [self] txn in try enqueue(request, in: txn) }
    }

    /// A recurring timer under a stable name: created once, its schedule and payload replaced
    /// when they changed (keeping its place otherwise).
    @discardableResult
    public func schedule(_ name: String, kind: String, _ schedule: JobSchedule, payload: JSONAny = .null) async throws -> Job {
        try await environment.write { [self] txn in
            let key = "timer:" + name
            if let id = try txn.get(keys, key), var job = try txn.get(jobs, id), !job.state.isFinal {
                guard job.schedule != schedule || job.payload != payload else { return job }
                try schedule.validate()
                if job.state == .pending, let next = try schedule.next(after: clock.now()) {
                    _ = try txn.delete(due, Self.dueKey(job, at: job.dueAt))
                    job.dueAt = next
                    try txn.put(due, Self.dueKey(job, at: next), [])
                }
                job.schedule = schedule
                job.payload = payload
                try txn.put(jobs, job.id, job)
                txn.afterCommit { [signal] in signal.wake() }
                return job
            }
            let first = try schedule.next(after: clock.now())
            return try enqueue(JobRequest(kind: kind, payload: payload, idempotencyKey: key, dueAt: first, schedule: schedule), in: txn)
        }
    }

    /// Cancels a job: a waiting one at once; a running one ends `cancelled` when its handler
    /// returns (it is not interrupted). Returns it as it then stands; `nil` if unknown.
    @discardableResult
    public func cancel(_ id: UUID) async throws -> Job? {
        try await environment.write { [self] txn in
            guard var job = try txn.get(jobs, id) else { return nil }
            switch job.state {
            case .pending:
                _ = try txn.delete(due, Self.dueKey(job, at: job.dueAt))
                job.state = .cancelled
                txn.afterCommit { [self] in notifyWatchers() }
            case .running:
                job.cancelRequested = true
            case .succeeded, .dead, .cancelled:
                return job
            }
            job.updatedAt = clock.now()
            try txn.put(jobs, id, job)
            return job
        }
    }

    public func job(_ id: UUID) throws -> Job? {
        try environment.read { txn in try txn.get(jobs, id) }
    }

    public func job(idempotencyKey: String) throws -> Job? {
        try environment.read { txn in try txn.get(keys, idempotencyKey).flatMap { try txn.get(jobs, $0) } }
    }

    /// Every job in `state` (for `portal jobs` and tests), oldest first.
    public func jobs(in state: Job.State? = nil, limit: Int = 1000) throws -> [Job] {
        try environment.read { txn in
            var found: [Job] = []
            try txn.forEach(jobs) { (_, job) throws(KVError) in
                if state == nil || job.state == state { found.append(job) }
                return found.count < limit
            }
            return found.sorted { $0.createdAt < $1.createdAt }
        }
    }

    /// Runs `work` in the service's task group, not tied to the caller: for work that goes on
    /// after a request ends but needs no retry after a restart (the assistant finishing an
    /// answer whose asker stopped listening). It is cancelled when the service stops (after the
    /// running jobs, on a graceful shutdown).
    public func detach(_ work: @escaping @Sendable () async -> Void) {
        detached.continuation.yield(work)
    }

    /// Tells the runner to look at the due index again now (after a `ManualClock` moved).
    public func wake() { signal.wake() }

    /// Deletes finished jobs last updated before `cutoff`, at most `batch` per transaction.
    public func prune(before cutoff: Date, batch: Int = 1000) async throws -> Int {
        var removed = 0
        while true {
            let count = try await environment.write { [self] txn -> Int in
                var doomed: [Job] = []
                try txn.forEach(jobs) { (_, job) throws(KVError) in
                    if job.state.isFinal && job.updatedAt < cutoff { doomed.append(job) }
                    return doomed.count < batch
                }
                for job in doomed {
                    _ = try txn.delete(jobs, job.id)
                    if let key = job.idempotencyKey, try txn.get(keys, key) == job.id { _ = try txn.delete(keys, key) }
                }
                return doomed.count
            }
            removed += count
            if count < batch { return removed }
        }
    }

    // MARK: Running

    /// Runs due jobs until the task is cancelled or the service group shuts down gracefully.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.renewLeases() }
                group.addTask {
                    await withDiscardingTaskGroup { work in
                        for await item in self.detached.stream { work.addTask { await item() } }
                    }
                }
                let running = RunningCounts()
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let busy = running.snapshot
                    let free = kinds.withLock { $0.mapValues { max($0.concurrency - busy[$0.name, default: 0], 0) } }
                    let claimed: [Job]
                    do {
                        claimed = try await claim(free: free)
                    } catch {
                        logger.error("claiming jobs failed", metadata: ["error": "\(error)"])
                        claimed = []
                    }
                    for job in claimed {
                        guard let kind = kinds.withLock({ $0[job.kind] }) else { continue }
                        running.add(1, to: job.kind)
                        group.addTask {
                            await self.execute(job, kind: kind)
                            running.add(-1, to: job.kind)
                            self.signal.wake()
                        }
                    }
                    if !claimed.isEmpty { continue }
                    let nextDue = (try? nextDueDate(free: free)) ?? nil
                    await signal.wait(until: nextDue.map { Duration.seconds(clock.now().distance(to: $0)) })
                }
                // Shutting down: nothing new is claimed; running jobs get the grace period,
                // and those still running after it are cancelled and due again at once.
                let unfinished = await waitForHeldJobs(upTo: shutdownGrace)
                if !unfinished.isEmpty {
                    logger.warning("jobs still running at the end of the grace period are cancelled and stay due", metadata: ["count": "\(unfinished.count)"])
                    do { try await release(unfinished) } catch { logger.error("returning jobs to due failed; they run again after their lease", metadata: ["error": "\(error)"]) }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: { [signal, detached] in
            detached.continuation.finish()
            signal.wake()
        }
    }

    /// Claims due jobs of kinds with free slots (at most 256), with a lease, in one write.
    func claim(free: [String: Int]) async throws -> [Job] {
        guard free.values.contains(where: { $0 > 0 }) else { return [] }
        let now = clock.now()
        let leaseUntil = now.addingTimeInterval(lease.timeInterval)
        let claimed = try await environment.write { [self] txn -> [Job] in
            var found: [(String, UInt64, UUID)] = []
            let zero = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            for (kind, slots) in free where slots > 0 {
                var taken = 0
                try txn.forEach(due, from: (kind, 0, zero), to: (kind, Self.millis(now) + 1, zero)) { (key, _) throws(KVError) in
                    found.append(key)
                    taken += 1
                    return taken < min(slots, 256)
                }
            }
            var claimed: [Job] = []
            for key in found {
                _ = try txn.delete(due, key)
                guard var job = try txn.get(jobs, key.2), !job.state.isFinal else { continue }
                if job.state == .running {
                    // Its worker died (or hung) with the job: the lease ended.
                    job.lastError = "the worker's lease ended (it stopped or hung)"
                    let next = job.attempts >= job.maxAttempts ? try job.schedule.next(after: now) : nil
                    if job.cancelRequested == true || (job.attempts >= job.maxAttempts && next == nil) {
                        (job.state, job.leaseUntil, job.worker, job.updatedAt) = (job.cancelRequested == true ? .cancelled : .dead, nil, nil, now)
                        try txn.put(jobs, job.id, job)
                        txn.afterCommit { [self] in notifyWatchers() }
                        continue
                    }
                    if let next {
                        (job.state, job.attempts, job.dueAt, job.leaseUntil, job.worker, job.updatedAt) = (.pending, 0, next, nil, nil, now)
                        try txn.put(jobs, job.id, job)
                        try txn.put(due, Self.dueKey(job, at: next), [])
                        continue
                    }
                }
                job.state = .running
                job.attempts += 1
                job.leaseUntil = leaseUntil
                job.worker = workerID
                job.updatedAt = now
                try txn.put(jobs, job.id, job)
                try txn.put(due, Self.dueKey(job, at: leaseUntil), [])
                claimed.append(job)
            }
            return claimed
        }
        held.withLock { $0.formUnion(claimed.map(\.id)) }
        return claimed
    }

    /// The earliest due time among kinds with free slots (registered kinds only).
    func nextDueDate(free: [String: Int]) throws -> Date? {
        // Every slot taken: a job's end wakes the runner.
        guard free.values.contains(where: { $0 > 0 }) else { return nil }
        return try environment.read { txn in
            var next: Date?
            for (kind, slots) in free where slots > 0 {
                try txn.forEach(due, prefix: CompositeKey3<String, UInt64, UUID>.prefix(kind)) { (key, _) throws(KVError) in
                    let due = Date(timeIntervalSince1970: Double(key.1) / 1000)
                    if next.map({ due < $0 }) ?? true { next = due }
                    return false
                }
            }
            return next
        }
    }

    func execute(_ job: Job, kind: JobKind) async {
        let outcome: Result<Void, any Error>
        do {
            try await kind.handler(JobContext(job: job))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        let stillHeld = held.withLock { $0.remove(job.id) != nil }
        // Given up at the end of the grace period (`held` emptied, the job released), or a
        // failure caused by a hard cancel: the job is due again, not failed.
        if case .failure = outcome, Task.isCancelled { return }
        guard stillHeld else { return }
        do {
            try await complete(job, kind: kind, outcome: outcome)
        } catch {
            logger.error("recording a job's end failed; it runs again after its lease", metadata: ["job": "\(job.id)", "kind": "\(job.kind)", "error": "\(error)"])
        }
    }

    func complete(_ claimed: Job, kind: JobKind, outcome: Result<Void, any Error>) async throws {
        let now = clock.now()
        try await environment.write { [self] txn in
            guard var job = try txn.get(jobs, claimed.id), job.state == .running, job.worker == workerID else { return }
            if let leaseUntil = job.leaseUntil { _ = try txn.delete(due, Self.dueKey(job, at: leaseUntil)) }
            job.leaseUntil = nil
            job.worker = nil
            job.updatedAt = now
            var nextDue: Date?
            switch outcome {
            case .success:
                job.lastError = nil
                if job.cancelRequested == true {
                    job.state = .cancelled
                } else if let next = try job.schedule.next(after: now) {
                    (job.state, job.attempts, nextDue) = (.pending, 0, next)
                } else {
                    job.state = .succeeded
                }
            case let .failure(error):
                job.lastError = String("\(error)".prefix(2000))
                let permanent = error is PermanentJobFailure
                if job.cancelRequested == true {
                    job.state = .cancelled
                } else if job.attempts < job.maxAttempts && !permanent {
                    (job.state, nextDue) = (.pending, now.addingTimeInterval(kind.delay(afterAttempt: job.attempts).timeInterval))
                } else if let next = try job.schedule.next(after: now) {
                    (job.state, job.attempts, nextDue) = (.pending, 0, next)
                } else {
                    job.state = .dead
                }
                logger.log(level: job.state == .dead ? .error : .warning, "job failed", metadata: [
                    "job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempts)", "state": "\(job.state.rawValue)", "error": "\(job.lastError ?? "")",
                ])
            }
            if let nextDue {
                job.dueAt = nextDue
                try txn.put(due, Self.dueKey(job, at: nextDue), [])
            }
            try txn.put(jobs, job.id, job)
            txn.afterCommit { [self] in notifyWatchers() }
        }
    }

    private func notifyWatchers() {
        for watcher in watchers.withLock({ Array($0.values) }) { watcher.yield() }
    }

    /// Returns once no job of `kind` is pending or running (each end recorded).
    public func waitUntilNoneDue(of kind: String) async throws {
        try await waitForWatchers { [self] in
            try environment.read { txn in
                var any = false
                try txn.forEach(due, prefix: CompositeKey3<String, UInt64, UUID>.prefix(kind)) { (_, _) throws(KVError) in
                    any = true
                    return false
                }
                return !any
            }
        }
    }

    /// Waits until the job holding `idempotencyKey` is finished (or there is none); returns it.
    public func waitUntilFinal(idempotencyKey: String) async throws -> Job? {
        var found: Job?
        try await waitForWatchers { [self] in
            found = try job(idempotencyKey: idempotencyKey)
            return found?.state.isFinal ?? true
        }
        return found
    }

    /// Returns once `condition` holds, looking again after every job's recorded end.
    func waitForWatchers(_ condition: () throws -> Bool) async throws {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        watchers.withLock { $0[id] = continuation }
        defer { _ = watchers.withLock { $0.removeValue(forKey: id) } }
        var iterator = changes.makeAsyncIterator()
        while try !condition() {
            guard await iterator.next() != nil else { throw CancellationError() }
            try Task.checkCancellation()
        }
    }

    /// Every third of a lease, extends the leases of the jobs this runner is running.
    func renewLeases() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: lease / 3) } catch { return }
            let ids = held.withLock { $0 }
            guard !ids.isEmpty else { continue }
            let leaseUntil = clock.now().addingTimeInterval(lease.timeInterval)
            do {
                try await environment.write { [self] txn in
                    for id in ids {
                        guard var job = try txn.get(jobs, id), job.state == .running, job.worker == workerID, let old = job.leaseUntil else { continue }
                        _ = try txn.delete(due, Self.dueKey(job, at: old))
                        job.leaseUntil = leaseUntil
                        try txn.put(due, Self.dueKey(job, at: leaseUntil), [])
                        try txn.put(jobs, id, job)
                    }
                }
            } catch {
                logger.error("renewing job leases failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until no job is running or `grace` passed; returns (and forgets) those still running.
    private func waitForHeldJobs(upTo grace: Duration) async -> Set<UUID> {
        let deadline = ContinuousClock.now + grace
        while !held.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline && !Task.isCancelled {
            await signal.wait(until: deadline - ContinuousClock.now)
        }
        return held.withLock { held in defer { held.removeAll() }; return held }
    }

    /// Puts running jobs back to pending, due now, without counting the interrupted attempt.
    private func release(_ ids: Set<UUID>) async throws {
        let now = clock.now()
        try await environment.write { [self] txn in
            for id in ids {
                guard var job = try txn.get(jobs, id), job.state == .running, job.worker == workerID else { continue }
                if let leaseUntil = job.leaseUntil { _ = try txn.delete(due, Self.dueKey(job, at: leaseUntil)) }
                if job.cancelRequested == true {
                    (job.state, job.leaseUntil, job.worker, job.updatedAt) = (.cancelled, nil, nil, now)
                    try txn.put(jobs, id, job)
                    continue
                }
                (job.state, job.leaseUntil, job.worker, job.dueAt, job.updatedAt) = (.pending, nil, nil, now, now)
                job.attempts = max(job.attempts - 1, 0)
                try txn.put(due, Self.dueKey(job, at: now), [])
                try txn.put(jobs, id, job)
            }
        }
    }
}

/// A wake-up call that is never lost: `wake` before `wait` makes the next `wait` return at
/// once. One waiter at a time.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a `wake`, after `timeout` (never, when `nil`), or on cancellation.
    func wait(until timeout: Duration?) async {
        if let timeout, timeout <= .zero { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForWake() }
            if let timeout { group.addTask { try? await Task.sleep(for: timeout) } }
            await group.next()
            group.cancelAll()
            self.state.withLock { $0.pending = false }
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.wake()
        }
    }
}

/// How many jobs of each kind this runner is running.
private final class RunningCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    var snapshot: [String: Int] { counts.withLock { $0 } }
    func add(_ delta: Int, to kind: String) { counts.withLock { $0[kind, default: 0] += delta } }
}
