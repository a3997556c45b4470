import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal
import Synchronization

/// `portal bench jobs`: durable no-op jobs through the real runner (`Jobs`, as the portal runs
/// it) on a temporary data directory with storage.sync on, as in production:
/// 1. throughput end to end (first enqueue → every job `succeeded`), enqueued 100 per write
///    transaction, then again one per transaction from concurrent enqueuers;
/// 2. the start lag (a job's `dueAt` → its handler starting) at a steady offered load.
struct JobsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Durable no-op jobs per second end to end, and their start lag at a steady offered load.",
        discussion: """
        Targets: at least 2000 jobs/s end to end; p99 start lag at most 50 ms at 500 jobs/s. \
        The data directory is created under --scratch-dir and removed afterwards: put it on the \
        file system the portal's data lives on (fsync on tmpfs costs nothing).
        """
    )

    @Option(help: "No-op jobs in each throughput run.") var jobs: Int = 20_000
    @Option(help: "Jobs per enqueue transaction in the batched run.") var batch: Int = 100
    @Option(help: "Concurrent enqueuers in the one-job-per-transaction run (group commit batches their transactions).") var enqueuers: Int = 16
    @Option(help: "How many of the bench's jobs may run at once (its JobKind concurrency).") var concurrency: Int = 64
    @Option(help: "Offered load of the lag run, in jobs per second.") var rate: Int = 500
    @Option(help: "Length of the lag run, in seconds.") var seconds: Int = 10
    @Option(help: "Sync every commit to disk (storage.sync): true, as in production, or false.") var sync: Bool = true
    @Option(name: .customLong("scratch-dir"), help: "Where to create the temporary data directory (default: $TMPDIR, else /tmp).") var scratchParent: String?

    static let kind = "bench.noop"

    func validate() throws {
        guard (1...10_000_000).contains(jobs) else { throw ValidationError("--jobs must be 1...10000000") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be 1...10000") }
        guard (1...1_024).contains(enqueuers) else { throw ValidationError("--enqueuers must be 1...1024") }
        guard (1...4_096).contains(concurrency) else { throw ValidationError("--concurrency must be 1...4096") }
        guard (1...100_000).contains(rate), (1...3_600).contains(seconds) else { throw ValidationError("--rate must be 1...100000 and --seconds 1...3600") }
    }

    func run() async throws {
        let scratch = try await ScratchPortal(under: scratchParent, prefix: "portal-bench-jobs", sync: sync)
        defer { scratch.remove() }
        let core = scratch.core
        let recorder = JobStarts()
        core.jobs.register(JobKind(Self.kind, concurrency: concurrency, maxAttempts: 1) { context in recorder.started(context.job) })
        // Only the runner: no event consumers, and no maintenance timers (resumeAfterStart is not called).
        let queue = core.jobs
        let runner = Task { try? await queue.run() }
        let outcome: Result<Void, any Error>
        do {
            try await measure(core, recorder: recorder, directory: scratch.directory)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        runner.cancel()
        _ = await runner.value
        try outcome.get()
    }

    private func measure(_ core: PortalCore, recorder: JobStarts, directory: String) async throws {
        let environment = core.environment, queue = core.jobs, kind = Self.kind, jobs = self.jobs, batch = self.batch
        print("jobs: \(jobs) no-op jobs per throughput run, kind concurrency \(concurrency), storage.sync \(sync ? "on" : "off"), data in \(directory)")

        // 1a. Enqueued `batch` per write transaction, one transaction after another.
        recorder.reset(recordingLags: false)
        var started = ContinuousClock.now
        var enqueued = 0
        while enqueued < jobs {
            let count = min(batch, jobs - enqueued)
            try await environment.write { txn in
                for _ in 0..<count { try queue.enqueue(JobRequest(kind: kind), in: txn) }
            }
            enqueued += count
        }
        let batchedEnqueue = ContinuousClock.now - started
        try await queue.waitUntilNoneDue(of: kind)
        let batched = ContinuousClock.now - started
        print("batched, \(batch) jobs per enqueue transaction: \(jobs) enqueued in \(rounded(batchedEnqueue.timeInterval, places: 2)) s "
            + "(\(Int(Double(jobs) / batchedEnqueue.timeInterval))/s); all succeeded \(rounded(batched.timeInterval, places: 2)) s after the first enqueue: "
            + "\(Int(Double(jobs) / batched.timeInterval)) jobs/s end to end")

        // 1b. One job per write transaction, from concurrent enqueuers (as requests enqueue).
        recorder.reset(recordingLags: false)
        let shares = (0..<enqueuers).map { jobs / enqueuers + ($0 < jobs % enqueuers ? 1 : 0) }
        started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for share in shares where share > 0 {
                group.addTask {
                    for _ in 0..<share { _ = try await queue.enqueue(JobRequest(kind: kind)) }
                }
            }
            try await group.waitForAll()
        }
        let singleEnqueue = ContinuousClock.now - started
        try await queue.waitUntilNoneDue(of: kind)
        let single = ContinuousClock.now - started
        print("one job per enqueue transaction, \(enqueuers) concurrent enqueuers: \(jobs) enqueued in \(rounded(singleEnqueue.timeInterval, places: 2)) s "
            + "(\(Int(Double(jobs) / singleEnqueue.timeInterval))/s); all succeeded \(rounded(single.timeInterval, places: 2)) s after the first enqueue: "
            + "\(Int(Double(jobs) / single.timeInterval)) jobs/s end to end")

        // 2. Start lag at a steady offered load: one job (one transaction) every 1/rate s.
        let total = rate * seconds
        recorder.reset(recordingLags: true)
        let interval = Duration.seconds(1) / rate
        let lagStart = ContinuousClock.now
        try await withThrowingDiscardingTaskGroup { group in
            for index in 0..<total {
                try await Task.sleep(until: lagStart + interval * index, clock: .continuous)
                group.addTask { _ = try await queue.enqueue(JobRequest(kind: kind)) }
            }
        }
        let offered = ContinuousClock.now - lagStart
        try await queue.waitUntilNoneDue(of: kind)
        let lags = recorder.lags.sorted()
        let p50 = percentile(lags, 0.50), p99 = percentile(lags, 0.99)
        print("start lag (dueAt → handler start), \(rate) jobs/s offered for \(seconds) s (\(total) jobs, offered in \(rounded(offered.timeInterval, places: 2)) s): "
            + "p50 \(rounded(p50, places: 2)) ms, p99 \(rounded(p99, places: 2)) ms, max \(rounded(lags.last ?? .nan, places: 2)) ms")

        // Every job of the bench ended `succeeded`, once.
        let states = Dictionary(grouping: try queue.jobs(limit: Int.max).filter { $0.kind == kind }, by: \.state).mapValues(\.count)
        let succeeded = states[.succeeded, default: 0], expected = 2 * jobs + total
        let others = states.filter { $0.key != .succeeded }.map { "\($0.value) \($0.key.rawValue)" }.sorted()
        print("check: \(succeeded) of \(expected) jobs succeeded" + (others.isEmpty ? "" : "; also " + others.joined(separator: ", ")))

        let slowest = min(Double(jobs) / batched.timeInterval, Double(jobs) / single.timeInterval)
        print("targets: ≥ 2000 jobs/s end to end: \(slowest >= 2_000 ? "met" : "NOT met") (slower run \(Int(slowest))/s); "
            + "p99 start lag ≤ 50 ms: \(p99 <= 50 ? "met" : "NOT met") (\(rounded(p99, places: 2)) ms)")
        guard succeeded == expected, others.isEmpty else { throw BenchFailure("not every bench job succeeded exactly once") }
    }
}

/// What the bench's no-op handler records: when recording, each job's lag from its due time
/// to the handler's start, in milliseconds.
final class JobStarts: Sendable {
    private let state = Mutex((recording: false, lags: [Double]()))

    func reset(recordingLags: Bool) {
        state.withLock { $0 = (recordingLags, []) }
    }

    func started(_ job: Job) {
        let now = Date()
        state.withLock { state in
            if state.recording { state.lags.append(now.timeIntervalSince(job.dueAt) * 1000) }
        }
    }

    var lags: [Double] { state.withLock { $0.lags } }
}

/// `portal bench outbox`: what recording a change's event costs the change. Each round times
/// the same durable writes four ways, in alternating order: one record; the record with its
/// chained, HMAC'd audit entry (an audited change before the outbox); the record with its
/// audit entry carrying a security event (`SecurityEvents.record`: the entry tells the event,
/// so no payload is written twice); and with an audit entry carrying an event's payload of its
/// own (as a run's or an approval's event is).
struct OutboxBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "The cost of recording a change's event (outbox entry + audit entry) in the change's transaction.",
        discussion: """
        Reports each variant's median time over the rounds (after one warm-up round that is not \
        counted), the ratio of the medians and the median of the rounds' own ratios. Target: at \
        most 10% more time with the event. The data directory is created under --scratch-dir and \
        removed afterwards.
        """
    )

    @Option(help: "Write transactions per variant and round.") var writes: Int = 2_000
    @Option(help: "Rounds, after one warm-up round.") var rounds: Int = 7
    @Option(help: "Concurrent writers (group commit batches their transactions).") var writers: Int = 8
    @Option(help: "Sync every commit to disk (storage.sync): true, as in production, or false.") var sync: Bool = true
    @Option(name: .customLong("scratch-dir"), help: "Where to create the temporary data directory (default: $TMPDIR, else /tmp).") var scratchParent: String?

    func validate() throws {
        guard (1...10_000_000).contains(writes) else { throw ValidationError("--writes must be 1...10000000") }
        guard (1...1_000).contains(rounds) else { throw ValidationError("--rounds must be 1...1000") }
        guard (1...1_024).contains(writers) else { throw ValidationError("--writers must be 1...1024") }
    }

    func run() async throws {
        let scratch = try await ScratchPortal(under: scratchParent, prefix: "portal-bench-outbox", sync: sync)
        defer { scratch.remove() }
        let environment = scratch.environment, core = scratch.core
        let records = try environment.table("bench_outbox_records", key: UInt64Key.self, value: RawBytes.self)

        // Before the outbox a change wrote its record and its audit entry; now it also writes its
        // event. The target compares those two; the record alone is shown for scale.
        var times: [Variant: [Duration]] = [:], ratios: [Double] = [], payloadRatios: [Double] = []
        var nextKey: UInt64 = 0
        for round in 0...rounds {
            var roundTimes: [Variant: Duration] = [:]
            let order = round % 2 == 0 ? Variant.allCases : Variant.allCases.reversed()
            for variant in order {
                roundTimes[variant] = try await Self.timeRound(writes: writes, writers: writers, firstKey: nextKey, variant: variant,
                                                               environment: environment, records: records, core: core)
                nextKey += UInt64(writes)
            }
            guard round > 0 else { continue }  // the warm-up
            for (variant, time) in roundTimes { times[variant, default: []].append(time) }
            ratios.append(roundTimes[.withEvent]!.timeInterval / roundTimes[.audited]!.timeInterval)
            payloadRatios.append(roundTimes[.withPayload]!.timeInterval / roundTimes[.audited]!.timeInterval)
        }
        func median(_ variant: Variant) -> Duration { let sorted = times[variant]!.sorted(); return sorted[sorted.count / 2] }
        let audited = median(.audited), withEvent = median(.withEvent)
        let ratio = withEvent.timeInterval / audited.timeInterval
        let pairedRatio = ratios.sorted()[ratios.count / 2]
        let extraMicroseconds = (withEvent - audited).timeInterval * 1_000_000 / Double(writes)
        print("outbox: \(writes) write transactions per variant and round, \(writers) concurrent writers, \(rounds) rounds after a warm-up, "
            + "storage.sync \(sync ? "on" : "off")")
        for variant in Variant.allCases {
            let time = median(variant)
            print("  \(variant.rawValue): median \(rounded(time.milliseconds, places: 1)) ms = \(Int(Double(writes) / time.timeInterval)) writes/s")
        }
        print("  outbox overhead on an audited change: ratio of the medians \(rounded(ratio, places: 3)) (\(rounded((ratio - 1) * 100, places: 1))% more time, "
            + "\(rounded(extraMicroseconds, places: 1)) µs per write); median of the rounds' ratios \(rounded(pairedRatio, places: 3)); "
            + "target ≤ 10%: \(ratio <= 1.10 ? "met" : "NOT met")")
        let payloadRatio = median(.withPayload).timeInterval / audited.timeInterval
        print("  with an event payload of its own: ratio of the medians \(rounded(payloadRatio, places: 3)); "
            + "median of the rounds' ratios \(rounded(payloadRatios.sorted()[payloadRatios.count / 2], places: 3))")
    }

    enum Variant: String, CaseIterable {
        case plain = "record only"
        case audited = "record + audit entry (before the outbox)"
        case withEvent = "record + audit entry carrying a security event (now)"
        case withPayload = "record + audit entry carrying an event with its own payload"
    }

    /// `writes` durable write transactions from `writers` concurrent writers, each putting one
    /// 128-byte record and, by `variant`, its audit entry and its event.
    static func timeRound(writes: Int, writers: Int, firstKey: UInt64, variant: Variant, environment: KV.Environment,
                          records: Table<UInt64Key, RawBytes>, core: PortalCore) async throws -> Duration {
        let value = [UInt8](repeating: 0x5A, count: 128)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in stride(from: writer, to: writes, by: writers) {
                        let key = firstKey + UInt64(index)
                        try await environment.write { txn in
                            try txn.put(records, key, value)
                            let event = SecurityEvent(kind: .organizationUpdated, userID: nil, username: "bench", organizationID: nil, detail: "bench record \(key)")
                            switch variant {
                            case .plain: break
                            case .audited:
                                _ = try core.audit.append(AuditEntry(time: event.time, organizationID: nil, principal: nil, principalName: event.username,
                                                                     kind: event.kind.rawValue, outcome: "done", detail: event.detail), in: txn)
                            case .withEvent:
                                try core.securityEvents.record(event, in: txn)
                            case .withPayload:
                                // The entry names a request, which the event does not: its payload is written in full.
                                try core.outbox.record(.security(event), organizationID: nil, requestID: "bench", time: event.time,
                                                       audit: AuditEntry(time: event.time, requestID: "bench", organizationID: nil, principal: nil,
                                                                         principalName: event.username, kind: event.kind.rawValue, outcome: "done",
                                                                         detail: event.detail), in: txn)
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return ContinuousClock.now - started
    }
}

/// Why a bench stopped short.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The value at `fraction` (0...1) of `sorted` (nearest rank); NaN when empty.
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

/// A portal core on a new empty data directory, for a bench; `remove()` closes and deletes it.
struct ScratchPortal {
    let directory: String
    let environment: KV.Environment
    let core: PortalCore

    init(under parent: String?, prefix: String, sync: Bool) async throws {
        directory = try makeScratchDirectory(under: parent ?? currentEnvironment()["TMPDIR"] ?? "/tmp", prefix: prefix)
        var storage = KV.Environment.Options()
        storage.syncOnCommit = sync
        environment = try KV.Environment(directory: directory, options: storage)
        core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
    }

    func remove() {
        environment.close()
        removeScratchDirectory(directory)
    }
}

/// A new empty directory under `parent` for a bench's data (see `removeScratchDirectory`).
func makeScratchDirectory(under parent: String, prefix: String) throws -> String {
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else {
        printError("portal: cannot create a directory under \(parent): \(String(cString: strerror(errno)))")
        throw ExitCode(73)
    }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Deletes a bench's data directory and everything in it.
func removeScratchDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
