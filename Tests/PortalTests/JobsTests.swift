import Foundation
import KV
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
@testable import Portal

/// The durable jobs runner on its own: runs, retries with backoff, dead letters, cancellation,
/// leases, concurrency limits, graceful shutdown, timers and pruning. No test waits by
/// sleeping: each waits for a signal a handler sends, for a job to be final, or moves a
/// `ManualClock` and wakes the runner.
@Suite struct JobsTests {
    /// A bare `Jobs` on a fresh environment; its clock stands still until a test moves it.
    struct Harness {
        static let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        /// The payload of the no-op jobs `drain` runs.
        static let fence = JSONAny.string("fence")

        let environment: KV.Environment
        let clock: ManualClock
        let jobs: Jobs

        init(shutdownGrace: Duration = .seconds(10)) throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-jobs-\(UUID().uuidString)").path
            var options = KV.Environment.Options()
            options.syncOnCommit = false
            environment = try KV.Environment(directory: directory, options: options)
            clock = ManualClock(Self.start)
            jobs = try Jobs(environment: environment, clock: clock, shutdownGrace: shutdownGrace)
        }

        /// A kind whose handler returns at once for a fence (see `drain`) and runs `handler`
        /// for every other job.
        static func kind(_ name: String, concurrency: Int = 1, maxAttempts: Int = 5, backoff: Duration = .seconds(1),
                         handler: @escaping @Sendable (JobContext) async throws -> Void) -> JobKind {
            JobKind(name, concurrency: concurrency, maxAttempts: maxAttempts, backoff: backoff) { context in
                guard context.job.payload != Harness.fence else { return }
                try await handler(context)
            }
        }

        /// Returns once every job of `kind` (a concurrency-1 kind made by `kind(_:)`) claimed so
        /// far has finished and its end is stored: the runner frees the kind's one slot only
        /// after recording the end, so a no-op job of that kind enqueued now runs after them.
        func drain(_ kind: String) async throws {
            let key = "fence-\(UUID().uuidString)"
            try await jobs.enqueue(JobRequest(kind: kind, payload: Self.fence, idempotencyKey: key))
            #expect(try await jobs.waitUntilFinal(idempotencyKey: key)?.state == .succeeded, "the fence ran")
        }

        /// Whether the due index holds an entry for job `id`.
        func isInDueIndex(_ id: UUID) throws -> Bool {
            let due = jobs.due
            return try environment.read { txn in
                var found = false
                try txn.forEach(due) { (key, _) throws(KVError) in
                    if key.2 == id { found = true }
                    return !found
                }
                return found
            }
        }
    }

    /// Values sent by job handlers, received by the test in order.
    final class Mailbox<Value: Sendable>: Sendable {
        private let stream: AsyncStream<Value>
        private let continuation: AsyncStream<Value>.Continuation

        init() {
            let (stream, continuation) = AsyncStream.makeStream(of: Value.self)
            self.stream = stream
            self.continuation = continuation
        }

        func send(_ value: Value) { continuation.yield(value) }

        /// The next value sent, waiting for it; `nil` if the waiting task is cancelled.
        func receive() async -> Value? {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }
    }

    /// Suspends until the calling task is cancelled (a handler the runner has to interrupt).
    static func untilCancelled() async {
        _ = await Mailbox<Void>().receive()
    }

    final class Counter: Sendable {
        private let value = Atomic<Int>(0)

        @discardableResult
        func increment() -> Int { value.add(1, ordering: .sequentiallyConsistent).newValue }

        var current: Int { value.load(ordering: .sequentiallyConsistent) }
    }

    final class Recorder<Value: Sendable>: Sendable {
        private let list = Mutex<[Value]>([])
        func append(_ value: Value) { list.withLock { $0.append(value) } }
        var values: [Value] { list.withLock { $0 } }
    }

    /// How many handlers of each kind are inside at once, the most there ever were, and how
    /// many entered in all.
    final class Occupancy: Sendable {
        struct Tally {
            var inside = 0
            var peak = 0
            var entries = 0
        }

        private let tallies = Mutex<[String: Tally]>([:])

        func enter(_ kind: String) {
            tallies.withLock { tallies in
                var tally = tallies[kind] ?? Tally()
                tally.inside += 1
                tally.entries += 1
                tally.peak = max(tally.peak, tally.inside)
                tallies[kind] = tally
            }
        }

        func leave(_ kind: String) {
            tallies.withLock { tallies in
                var tally = tallies[kind] ?? Tally()
                tally.inside -= 1
                tallies[kind] = tally
            }
        }

        func peak(_ kind: String) -> Int { tallies.withLock { $0[kind]?.peak ?? 0 } }
        func entries(_ kind: String) -> Int { tallies.withLock { $0[kind]?.entries ?? 0 } }
    }

    /// Lets `parties` callers through together once they have all arrived; later callers pass.
    final class Barrier: Sendable {
        private let parties: Int
        private let state = Mutex<(arrived: Int, waiting: [CheckedContinuation<Void, Never>])>((arrived: 0, waiting: []))

        init(parties: Int) { self.parties = parties }

        func arrive() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let parties = self.parties
                let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.arrived += 1
                    guard state.arrived >= parties else {
                        state.waiting.append(continuation)
                        return []
                    }
                    let all = state.waiting + [continuation]
                    state.waiting = []
                    return all
                }
                for waiter in released { waiter.resume() }
            }
        }
    }

    struct Flaky: Error, CustomStringConvertible {
        let attempt: Int
        var description: String { "attempt \(attempt) failed" }
    }

    static func same(_ a: Date, _ b: Date) -> Bool { abs(a.timeIntervalSince(b)) < 0.001 }

    // MARK: Running once

    /// A job runs once and ends `succeeded`; enqueueing its idempotency key again while it is
    /// pending or running returns that job and runs nothing more; once it ended, the key makes
    /// a new job.
    @Test(.timeLimit(.minutes(1))) func aJobRunsOnceAndItsKeyNamesItUntilItEnds() async throws {
        let harness = try Harness()
        let jobs = harness.jobs
        let started = Mailbox<UUID>(), gate = Mailbox<Void>(), runs = Counter()
        jobs.register(Harness.kind("mail") { context in
            started.send(context.job.id)
            if runs.increment() == 1 { _ = await gate.receive() }
        })

        let first = try await jobs.enqueue(JobRequest(kind: "mail", payload: .string("hello"), idempotencyKey: "welcome-mail"))
        #expect(first.state == .pending && first.attempts == 0 && first.maxAttempts == 5)
        #expect(first.dueAt == harness.clock.now(), "due now")
        let whilePending = try await jobs.enqueue(JobRequest(kind: "mail", payload: .string("other"), idempotencyKey: "welcome-mail"))
        #expect(whilePending.id == first.id && whilePending.payload == .string("hello"), "the same job, unchanged")

        let services = RunningServices([jobs])
        #expect(await started.receive() == first.id)
        let whileRunning = try await jobs.enqueue(JobRequest(kind: "mail", idempotencyKey: "welcome-mail"))
        #expect(whileRunning.id == first.id && whileRunning.state == .running && whileRunning.attempts == 1)
        gate.send(())
        let done = try #require(try await jobs.waitUntilFinal(idempotencyKey: "welcome-mail"))
        #expect(done.id == first.id && done.state == .succeeded && done.attempts == 1)
        #expect(done.lastError == nil && done.leaseUntil == nil && done.worker == nil)
        #expect(runs.current == 1)
        #expect(try jobs.jobs(in: nil).map(\.id) == [first.id])
        #expect(try !harness.isInDueIndex(first.id), "a finished job is not due")

        let next = try await jobs.enqueue(JobRequest(kind: "mail", idempotencyKey: "welcome-mail"))
        #expect(next.id != first.id)
        #expect(await started.receive() == next.id)
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "welcome-mail")?.state == .succeeded)
        #expect(runs.current == 2)
        try await services.stop()
    }

    // MARK: Failures

    /// The wait before attempt n+1 is `backoff`·2^(n-1), times a jitter between ½ and 1, and
    /// never more than `maxBackoff`.
    @Test func theBackoffDoublesPerAttemptWithinItsJitterUpToItsCeiling() {
        let kind = JobKind("k", backoff: .seconds(2), maxBackoff: .seconds(60)) { _ in }
        #expect(kind.delay(afterAttempt: 1, random: 1) == .seconds(2))
        #expect(kind.delay(afterAttempt: 2, random: 1) == .seconds(4))
        #expect(kind.delay(afterAttempt: 3, random: 0.5) == .seconds(4))
        #expect(kind.delay(afterAttempt: 5, random: 1) == .seconds(32))
        #expect(kind.delay(afterAttempt: 6, random: 1) == .seconds(60), "capped")
        #expect(kind.delay(afterAttempt: 6, random: 0.5) == .seconds(30), "jitter applies to the cap too")
        #expect(kind.delay(afterAttempt: 200, random: 1) == .seconds(60), "no overflow for many attempts")
        for attempt in 1...5 {
            let nominal = Duration.seconds(2) * (1 << (attempt - 1))
            let delay = kind.delay(afterAttempt: attempt)
            #expect(delay >= nominal / 2 && delay <= nominal, "attempt \(attempt): \(delay)")
        }
    }

    /// A failing job is retried after a wait that doubles per attempt (within the jitter),
    /// each attempt seeing the previous error; after `maxAttempts` it is dead with the last
    /// error as the reason.
    @Test(.timeLimit(.minutes(1))) func aFailingJobIsRetriedWithGrowingBackoffThenDeadWithItsLastError() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let attempts = Mailbox<Job>()
        jobs.register(Harness.kind("flaky", maxAttempts: 4, backoff: .seconds(10)) { context in
            attempts.send(context.job)
            throw Flaky(attempt: context.attempt)
        })
        let services = RunningServices([jobs])
        let enqueued = try await jobs.enqueue(JobRequest(kind: "flaky", idempotencyKey: "flaky"))
        #expect(enqueued.maxAttempts == 4, "the kind's own")

        var waits: [Double] = []
        for attempt in 1...4 {
            let seen = try #require(await attempts.receive())
            #expect(seen.id == enqueued.id && seen.attempts == attempt && seen.state == .running)
            #expect(seen.lastError == (attempt == 1 ? nil : "attempt \(attempt - 1) failed"))
            try await harness.drain("flaky")
            let job = try #require(try jobs.job(enqueued.id))
            #expect(job.attempts == attempt && job.lastError == "attempt \(attempt) failed")
            #expect(job.leaseUntil == nil && job.worker == nil)
            if attempt == 4 {
                #expect(job.state == .dead)
                #expect(try !harness.isInDueIndex(job.id))
                break
            }
            #expect(job.state == .pending)
            // delay(afterAttempt: n) = 10 s · 2^(n-1) · jitter, jitter in [0.5, 1].
            let nominal = 10.0 * Double(1 << (attempt - 1))
            let wait = job.dueAt.timeIntervalSince(clock.now())
            #expect(wait >= nominal / 2 - 0.001 && wait <= nominal + 0.001, "after attempt \(attempt): waits \(wait) s, nominal \(nominal) s")
            waits.append(wait)
            clock.set(job.dueAt)
            jobs.wake()
        }
        #expect(waits.count == 3 && zip(waits, waits.dropFirst()).allSatisfy { $0 <= $1 }, "\(waits)")
        let dead = try #require(try await jobs.waitUntilFinal(idempotencyKey: "flaky"))
        #expect(dead.state == .dead && dead.attempts == 4 && dead.lastError == "attempt 4 failed")
        try await services.stop()
    }

    /// A handler that throws `PermanentJobFailure` ends its job dead at the first attempt.
    @Test(.timeLimit(.minutes(1))) func aPermanentFailureIsDeadAtOnce() async throws {
        let harness = try Harness()
        let jobs = harness.jobs
        let runs = Counter()
        jobs.register(Harness.kind("import") { _ in
            runs.increment()
            throw PermanentJobFailure("the file is not CSV")
        })
        let services = RunningServices([jobs])
        try await jobs.enqueue(JobRequest(kind: "import", idempotencyKey: "import"))
        let dead = try #require(try await jobs.waitUntilFinal(idempotencyKey: "import"))
        #expect(dead.state == .dead && dead.attempts == 1 && dead.maxAttempts == 5)
        #expect(dead.lastError == "the file is not CSV")
        #expect(runs.current == 1)
        try await services.stop()
    }

    // MARK: Cancellation

    /// A pending job cancelled ends `cancelled`, leaves the due index, and never runs: a job
    /// of the same one-at-a-time kind due after it runs, and it does not.
    @Test(.timeLimit(.minutes(1))) func aCancelledPendingJobNeverRuns() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let ran = Recorder<UUID>()
        jobs.register(Harness.kind("report") { context in ran.append(context.job.id) })
        let services = RunningServices([jobs])

        let doomed = try await jobs.enqueue(JobRequest(kind: "report", idempotencyKey: "doomed", dueAt: clock.now().addingTimeInterval(60)))
        let later = try await jobs.enqueue(JobRequest(kind: "report", idempotencyKey: "later", dueAt: clock.now().addingTimeInterval(61)))
        #expect(try harness.isInDueIndex(doomed.id))
        let cancelled = try #require(try await jobs.cancel(doomed.id))
        #expect(cancelled.state == .cancelled)
        #expect(try !harness.isInDueIndex(doomed.id))

        clock.advance(by: .seconds(120))
        jobs.wake()
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "later")?.state == .succeeded)
        #expect(ran.values == [later.id])
        let stored = try #require(try jobs.job(doomed.id))
        #expect(stored.state == .cancelled && stored.attempts == 0)
        #expect(try await jobs.cancel(UUID()) == nil, "unknown")
        try await services.stop()
    }

    /// A running job cancelled is not interrupted: it ends `cancelled` when its handler
    /// returns, whether the handler succeeded or failed (no retry), and a recurring one is not
    /// planned again.
    @Test(.timeLimit(.minutes(1))) func aRunningJobCancelledEndsCancelledWhenItsHandlerReturns() async throws {
        let harness = try Harness()
        let jobs = harness.jobs
        let started = Mailbox<UUID>(), gate = Mailbox<Void>(), runs = Counter()
        jobs.register(Harness.kind("export") { context in
            runs.increment()
            started.send(context.job.id)
            _ = await gate.receive()
            if context.job.payload == .string("fail") { throw Flaky(attempt: context.attempt) }
        })
        let services = RunningServices([jobs])

        let cases: [(key: String, payload: String, schedule: JobSchedule, error: String?)] = [
            ("export-succeeds", "succeed", .once, nil),
            ("export-fails", "fail", .once, "attempt 1 failed"),
            ("export-recurring", "succeed", .every(seconds: 60), nil),
        ]
        for item in cases {
            let job = try await jobs.enqueue(JobRequest(kind: "export", payload: .string(item.payload), idempotencyKey: item.key, schedule: item.schedule))
            #expect(await started.receive() == job.id)
            let asked = try #require(try await jobs.cancel(job.id))
            #expect(asked.state == .running && asked.cancelRequested == true, "\(item.key): still running")
            gate.send(())
            let ended = try #require(try await jobs.waitUntilFinal(idempotencyKey: item.key))
            #expect(ended.state == .cancelled && ended.attempts == 1, "\(item.key)")
            #expect(ended.lastError == item.error, "\(item.key)")
            #expect(try !harness.isInDueIndex(job.id), "\(item.key)")
            #expect(try await jobs.cancel(job.id)?.state == .cancelled, "cancelling a finished job changes nothing")
        }
        #expect(runs.current == cases.count)
        try await services.stop()
    }

    // MARK: Leases

    /// A job left `running` by a worker that died is claimed again once its lease ended (the
    /// attempt counted, the reason given to the handler); one whose lease has not ended is
    /// left alone until it has.
    @Test(.timeLimit(.minutes(1))) func aJobWhoseWorkerDiedRunsAgainAfterItsLeaseEnds() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let seen = Mailbox<Job>()
        jobs.register(Harness.kind("sync") { context in seen.send(context.job) })

        // As `claim` leaves a running job: its due entry (kind, ms, id) moved to the end of its lease.
        func running(_ key: String, leaseUntil: Date, worker: UUID) -> Job {
            let claimedAt = leaseUntil.addingTimeInterval(-30)
            return Job(id: UUID(), kind: "sync", payload: .null, idempotencyKey: key, state: .running, dueAt: claimedAt, attempts: 1, maxAttempts: 5,
                       lastError: nil, leaseUntil: leaseUntil, worker: worker, schedule: .once, cancelRequested: nil, createdAt: claimedAt, updatedAt: claimedAt)
        }
        let deadWorker = UUID(), liveWorker = UUID()
        let stale = running("stale", leaseUntil: clock.now().addingTimeInterval(-1), worker: deadWorker)
        let live = running("live", leaseUntil: clock.now().addingTimeInterval(20), worker: liveWorker)
        let table: Table<Key<UUID>, JSONValue<Job>> = jobs.jobs
        let due = jobs.due
        let keys: Table<StringKey, JSONValue<UUID>> = jobs.keys
        try await harness.environment.write { txn in
            for job in [stale, live] {
                try txn.put(table, job.id, job)
                try txn.put(due, Jobs.dueKey(job, at: job.leaseUntil!), [])
                try txn.put(keys, job.idempotencyKey!, job.id)
            }
        }

        let services = RunningServices([jobs])
        let rerun = try #require(await seen.receive())
        #expect(rerun.id == stale.id && rerun.attempts == 2 && rerun.worker == jobs.workerID)
        #expect(rerun.lastError == "the worker's lease ended (it stopped or hung)")
        let done = try #require(try await jobs.waitUntilFinal(idempotencyKey: "stale"))
        #expect(done.state == .succeeded && done.attempts == 2 && done.worker == nil)

        try await harness.drain("sync")
        let untouched = try #require(try jobs.job(live.id))
        #expect(untouched.state == .running && untouched.attempts == 1 && untouched.worker == liveWorker, "its lease has not ended")

        clock.advance(by: .seconds(21))
        jobs.wake()
        let taken = try #require(await seen.receive())
        #expect(taken.id == live.id && taken.attempts == 2 && taken.worker == jobs.workerID)
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "live")?.state == .succeeded)
        try await services.stop()
    }

    // MARK: Concurrency

    /// 1,000 jobs of a kind limited to 3 at once and a kind limited to 1: every one succeeds
    /// after one run, at most 3 and 1 handlers are ever inside at once, and 3 are (the first
    /// three wait for each other, which they could not if fewer ran at once).
    @Test(.timeLimit(.minutes(2))) func aThousandJobsRunWithinTheirKindsConcurrencyLimits() async throws {
        let harness = try Harness()
        let jobs = harness.jobs
        let occupancy = Occupancy(), firstThree = Barrier(parties: 3), wideTickets = Counter()
        jobs.register(JobKind("wide", concurrency: 3) { _ in
            occupancy.enter("wide")
            if wideTickets.increment() <= 3 { await firstThree.arrive() }
            await Task.yield()
            occupancy.leave("wide")
        })
        jobs.register(JobKind("narrow", concurrency: 1) { _ in
            occupancy.enter("narrow")
            await Task.yield()
            occupancy.leave("narrow")
        })
        try await harness.environment.write { txn in
            for index in 0..<1000 {
                try jobs.enqueue(JobRequest(kind: Self.bulkKind(index), idempotencyKey: Self.bulkKey(index)), in: txn)
            }
        }

        let services = RunningServices([jobs])
        for index in 0..<1000 {
            let job = try await jobs.waitUntilFinal(idempotencyKey: Self.bulkKey(index))
            #expect(job?.state == .succeeded && job?.attempts == 1, "\(Self.bulkKey(index))")
        }
        #expect(try jobs.jobs(in: .succeeded, limit: 2000).count == 1000)
        #expect(occupancy.entries("wide") == 500 && occupancy.entries("narrow") == 500, "each ran once")
        #expect(occupancy.peak("wide") == 3)
        #expect(occupancy.peak("narrow") == 1)
        try await services.stop()
    }

    static func bulkKind(_ index: Int) -> String { index % 2 == 0 ? "wide" : "narrow" }
    static func bulkKey(_ index: Int) -> String { "\(bulkKind(index))-\(index)" }

    // MARK: Shutdown

    /// A job still running when the grace period ends is cancelled and returned to pending,
    /// due at once, its interrupted attempt not counted; a second runner on the same storage
    /// then runs it to success.
    @Test(.timeLimit(.minutes(1))) func aJobCutOffByShutdownIsDueAgainAndAnotherRunnerFinishesIt() async throws {
        let harness = try Harness(shutdownGrace: .milliseconds(200))
        let jobs = harness.jobs, clock = harness.clock
        let started = Mailbox<Int>(), interrupted = Mailbox<Void>()
        jobs.register(Harness.kind("rebuild") { context in
            started.send(context.attempt)
            await JobsTests.untilCancelled()
            interrupted.send(())
        })
        let services = RunningServices([jobs])
        let job = try await jobs.enqueue(JobRequest(kind: "rebuild", idempotencyKey: "rebuild"))
        #expect(await started.receive() == 1)
        #expect(try jobs.job(job.id)?.state == .running)

        try await services.stop()
        #expect(await interrupted.receive() != nil, "the handler was cancelled")
        let released = try #require(try jobs.job(job.id))
        #expect(released.state == .pending)
        #expect(released.dueAt <= clock.now(), "due at once")
        #expect(released.attempts == 0, "the interrupted attempt is not counted")
        #expect(released.lastError == nil && released.leaseUntil == nil && released.worker == nil)
        #expect(try harness.isInDueIndex(job.id))

        let successor = try Jobs(environment: harness.environment, clock: clock)
        let finished = Mailbox<Int>()
        successor.register(Harness.kind("rebuild") { context in finished.send(context.attempt) })
        let restarted = RunningServices([successor])
        #expect(await finished.receive() == 1)
        let done = try #require(try await successor.waitUntilFinal(idempotencyKey: "rebuild"))
        #expect(done.id == job.id && done.state == .succeeded && done.attempts == 1)
        try await restarted.stop()
    }

    /// A job that ends during the grace period, after the shutdown began, is recorded as
    /// `succeeded` before the runner stops.
    @Test(.timeLimit(.minutes(1))) func aJobThatEndsWithinTheGracePeriodSucceeds() async throws {
        let harness = try Harness(shutdownGrace: .seconds(30))
        let jobs = harness.jobs
        let started = Mailbox<Void>(), shutdownBegan = Mailbox<Void>(), gate = Mailbox<Void>()
        jobs.register(Harness.kind("invoice") { _ in
            started.send(())
            await withGracefulShutdownHandler {
                _ = await gate.receive()
            } onGracefulShutdown: {
                shutdownBegan.send(())
            }
        })
        let services = RunningServices([jobs])
        let job = try await jobs.enqueue(JobRequest(kind: "invoice", idempotencyKey: "invoice"))
        #expect(await started.receive() != nil)

        let stopping = Task { try await services.stop() }
        #expect(await shutdownBegan.receive() != nil)
        gate.send(())
        try await stopping.value
        let done = try #require(try jobs.job(job.id))
        #expect(done.state == .succeeded && done.attempts == 1 && done.leaseUntil == nil)
        #expect(try !harness.isInDueIndex(job.id))
    }

    // MARK: Timers

    /// A named timer runs at each time its schedule names once the clock reaches it, each run
    /// planning the next; scheduling the name again with the same schedule keeps the one job
    /// in its place, and a changed schedule replaces its plan.
    @Test(.timeLimit(.minutes(1))) func aTimerRunsAtEachOfItsTimesAndKeepsOneJobUnderItsName() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let ticks = Mailbox<Job>(), tickCount = Counter()
        jobs.register(Harness.kind("tick") { context in
            tickCount.increment()
            ticks.send(context.job)
        })
        let timer = try await jobs.schedule("heartbeat", kind: "tick", .every(seconds: 60))
        #expect(timer.state == .pending && timer.idempotencyKey == "timer:heartbeat")
        #expect(timer.dueAt == clock.now().addingTimeInterval(60), "first due one interval from now")
        let again = try await jobs.schedule("heartbeat", kind: "tick", .every(seconds: 60))
        #expect(again.id == timer.id && Self.same(again.dueAt, timer.dueAt), "the same job, in its place")

        let services = RunningServices([jobs])
        clock.advance(by: .seconds(59))
        jobs.wake()
        try await harness.drain("tick")
        #expect(tickCount.current == 0, "not before its time")

        var due = timer.dueAt
        for round in 1...3 {
            clock.set(due)
            jobs.wake()
            let tick = try #require(await ticks.receive())
            #expect(tick.id == timer.id && tick.attempts == 1, "round \(round)")
            try await harness.drain("tick")
            let after = try #require(try jobs.job(timer.id))
            #expect(after.state == .pending && after.attempts == 0, "round \(round)")
            #expect(Self.same(after.dueAt, due.addingTimeInterval(60)), "round \(round): next due one interval after this run")
            due = after.dueAt
        }
        #expect(tickCount.current == 3)

        let changed = try await jobs.schedule("heartbeat", kind: "tick", .every(seconds: 300))
        #expect(changed.id == timer.id && changed.schedule == .every(seconds: 300))
        #expect(Self.same(changed.dueAt, clock.now().addingTimeInterval(300)), "planned from now on the new schedule")
        #expect(try jobs.jobs(in: nil).filter { $0.idempotencyKey == "timer:heartbeat" }.map(\.id) == [timer.id])
        clock.advance(by: .seconds(300))
        jobs.wake()
        let replanned = try #require(await ticks.receive())
        #expect(replanned.id == timer.id && replanned.schedule == .every(seconds: 300))
        try await services.stop()
    }

    /// A cron timer in a time zone fires at 09:00 local on each side of a daylight-saving
    /// change (New York, 8 March 2026): 14:00 UTC before it, 13:00 UTC after, each once.
    @Test(.timeLimit(.minutes(1))) func aCronTimerFollowsLocalTimeAcrossADaylightSavingChange() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let ticks = Mailbox<Date>()
        jobs.register(Harness.kind("standup") { _ in ticks.send(clock.now()) })
        func utc(_ text: String) throws -> Date { try #require(try? Date(text, strategy: .iso8601)) }
        clock.set(try utc("2026-03-06T15:00:00Z"))
        let timer = try await jobs.schedule("standup", kind: "standup", .cron(expression: "0 9 * * *", timeZone: "America/New_York"))
        #expect(Self.same(timer.dueAt, try utc("2026-03-07T14:00:00Z")))
        let services = RunningServices([jobs])
        var fired: [Date] = []
        for expected in ["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"] {
            let due = try #require(try jobs.job(timer.id)).dueAt
            #expect(Self.same(due, try utc(expected)), "due at \(due), expected \(expected)")
            clock.set(due)
            jobs.wake()
            fired.append(try #require(await ticks.receive()))
            try await harness.drain("standup")
        }
        #expect(fired.count == 3)
        #expect(Self.same(try #require(try jobs.job(timer.id)).dueAt, try utc("2026-03-10T13:00:00Z")))
        try await services.stop()
    }

    /// A job due later does not run before its time, and runs once the clock reaches it.
    @Test(.timeLimit(.minutes(1))) func aJobDueLaterWaitsForItsTime() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        let ran = Mailbox<UUID>(), runs = Counter()
        jobs.register(Harness.kind("remind") { context in
            runs.increment()
            ran.send(context.job.id)
        })
        let services = RunningServices([jobs])
        let job = try await jobs.enqueue(JobRequest(kind: "remind", idempotencyKey: "remind", dueAt: clock.now().addingTimeInterval(3600)))

        clock.advance(by: .seconds(3599))
        jobs.wake()
        try await harness.drain("remind")
        #expect(runs.current == 0)
        #expect(try jobs.job(job.id)?.state == .pending)

        clock.advance(by: .seconds(1))
        jobs.wake()
        #expect(await ran.receive() == job.id)
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "remind")?.state == .succeeded)
        #expect(runs.current == 1)
        try await services.stop()
    }

    // MARK: Pruning

    /// Pruning deletes the finished jobs (succeeded, dead, cancelled) last changed before the
    /// cutoff and their keys; it keeps unfinished jobs, newer ones, and a key that now names
    /// a newer job.
    @Test(.timeLimit(.minutes(1))) func pruningRemovesOnlyFinishedJobsOlderThanTheCutoff() async throws {
        let harness = try Harness()
        let jobs = harness.jobs, clock = harness.clock
        jobs.register(Harness.kind("work") { context in
            if context.job.payload == .string("fail") { throw PermanentJobFailure("no") }
        })
        let services = RunningServices([jobs])
        let tomorrow = clock.now().addingTimeInterval(86_400)

        let succeeded = try await jobs.enqueue(JobRequest(kind: "work", idempotencyKey: "succeeded"))
        let dead = try await jobs.enqueue(JobRequest(kind: "work", payload: .string("fail"), idempotencyKey: "dead"))
        let cancelled = try await jobs.enqueue(JobRequest(kind: "work", idempotencyKey: "cancelled", dueAt: tomorrow))
        try await jobs.cancel(cancelled.id)
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "succeeded")?.state == .succeeded)
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "dead")?.state == .dead)
        let pending = try await jobs.enqueue(JobRequest(kind: "work", idempotencyKey: "pending", dueAt: tomorrow))
        let reused = try await jobs.enqueue(JobRequest(kind: "work", idempotencyKey: "succeeded", dueAt: tomorrow))
        #expect(reused.id != succeeded.id)

        clock.advance(by: .seconds(7200))
        let recent = try await jobs.enqueue(JobRequest(kind: "work", idempotencyKey: "recent"))
        #expect(try await jobs.waitUntilFinal(idempotencyKey: "recent")?.state == .succeeded)

        let removed = try await jobs.prune(before: Harness.start.addingTimeInterval(3600))
        #expect(removed == 3)
        #expect(try Set(jobs.jobs(in: nil).map(\.id)) == [pending.id, reused.id, recent.id])
        for gone in [succeeded, dead, cancelled] { #expect(try jobs.job(gone.id) == nil) }
        #expect(try jobs.job(idempotencyKey: "dead") == nil && jobs.job(idempotencyKey: "cancelled") == nil, "their keys went with them")
        #expect(try jobs.job(idempotencyKey: "succeeded")?.id == reused.id, "a key that names a newer job stays")
        #expect(try await jobs.prune(before: Harness.start.addingTimeInterval(3600)) == 0)
        try await services.stop()
    }
}
