import Foundation
import Synchronization
import TestSupport
import Testing

/// The outbox and the jobs through the real binary, across SIGKILL: every committed change's
/// event reaches a durable consumer (`portal events consume`, a separate process) exactly once
/// and in order, and nothing is recorded for a change that did not commit; a job whose worker
/// died is claimed again once its lease has ended.
@Suite struct CrashConsistencyTests {
    static let adminPassword = "admin-password-1"
    static let consumer = "crash-test"

    /// A portal with a known administrator password and rate limiting off (the writers go as
    /// fast as they can).
    static func startPortal(dataDirectory: String? = nil, environment: [String: String] = [:]) throws -> PortalProcess {
        try PortalProcess(dataDirectory: dataDirectory, environment: [
            "PORTAL_BOOTSTRAP_ADMIN_PASSWORD": adminPassword, "PORTAL_RATELIMIT_ENABLED": "false",
        ].merging(environment) { _, new in new })
    }

    @Test func everyCommittedChangesEventIsConsumedExactlyOnceInOrderAcrossASIGKILL() throws {
        let portal = try Self.startPortal()
        let data = portal.dataDirectory
        let admin = try ToolsProcessTests.signIn(portal.port, "admin", Self.adminPassword)
        var consumed: [[String: Any]] = []

        // Eight writers create API keys (each records `api-key.created` with the key, in the
        // key's transaction) until the kill; the consumer takes 50 entries at a time meanwhile.
        let before = KeyWriters()
        before.start(8, port: portal.port, headers: admin.headers, prefix: "before")
        var runs = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while (before.acknowledged.count < 300 || runs < 3) && before.running == 8 && ContinuousClock.now < deadline {
            consumed += try Self.consume(data, limit: 50)
            runs += 1
        }
        #expect(before.refusals.isEmpty, "\(before.refusals.prefix(3))")
        #expect(before.running == 8, "every writer is still writing when the portal is killed")
        portal.signal(SIGKILL)
        _ = portal.waitForExit()
        #expect(before.waitUntilFinished(timeout: .seconds(30)))
        before.stop()
        #expect(before.failures.count == 8, "each writer's request in flight (or its next) failed with the portal")
        #expect(before.acknowledged.count >= 300)
        consumed += try Self.consume(data, limit: 50)  // while the portal is down

        // Restarted: more writes, still consumed beside them; then a graceful stop.
        let restarted = try Self.startPortal(dataDirectory: data)
        let admin2 = try ToolsProcessTests.signIn(restarted.port, "admin", Self.adminPassword)
        let after = KeyWriters()
        after.start(8, port: restarted.port, headers: admin2.headers, prefix: "after", writesEach: 25)
        let deadline2 = ContinuousClock.now + .seconds(120)
        while after.running > 0 && ContinuousClock.now < deadline2 {
            consumed += try Self.consume(data, limit: 50)
        }
        #expect(after.waitUntilFinished(timeout: .seconds(60)))
        #expect(after.failures.isEmpty && after.refusals.isEmpty, "\(after.failures.prefix(3)) \(after.refusals.prefix(3))")
        #expect(after.acknowledged.count == 8 * 25)
        let listed = try ToolsProcessTests.object(try RawHTTPConnection.get(port: restarted.port, "/api/keys", headers: admin2.headers))
        let stored = Set(try #require(listed["keys"] as? [[String: Any]]).compactMap { ($0["id"] as? String)?.uppercased() })
        restarted.signal(SIGTERM)
        #expect(restarted.waitForExit() == 0)

        // The rest, until the consumer is up to date.
        for _ in 0..<1_000 {
            let batch = try Self.consume(data, limit: 500)
            if batch.isEmpty { break }
            consumed += batch
        }

        // One gapless, increasing run of sequence numbers from the first entry to the newest:
        // nothing skipped, nothing handed out twice, across the kill and the restart.
        let sequences = consumed.compactMap { $0["sequence"] as? Int }
        #expect(sequences.count == consumed.count)
        #expect(sequences.first == 1, "a new consumer starts from the first entry")
        let breaks = zip(sequences, sequences.dropFirst()).filter { $1 != $0 + 1 }
        #expect(breaks.isEmpty, "out of order, repeated or missing after: \(breaks.prefix(5))")
        let positions = try Self.cursors(data)
        #expect(sequences.last == positions.newest)
        #expect(positions.cursor == positions.newest, "the consumer's cursor is at the newest entry")

        // Exactly one event per acknowledged key; an event only for a key that is stored, and
        // every stored key has its event (a change and its event commit together or not at all).
        var events: [String: Int] = [:]
        for entry in consumed where entry["kind"] as? String == "api-key.created" {
            let detail = (entry["payload"] as? [String: Any])?["detail"] as? String ?? ""
            let words = detail.split(separator: " ")
            guard words.count >= 2, words[0] == "key" else {
                Issue.record("an api-key.created event that does not name its key: \(detail)")
                continue
            }
            events[words[1].uppercased(), default: 0] += 1
        }
        let acknowledged = Set(before.acknowledged.keys).union(after.acknowledged.keys)
        #expect(events.filter { $0.value != 1 }.isEmpty, "keys with more than one event")
        let unrecorded = acknowledged.subtracting(events.keys)
        #expect(unrecorded.isEmpty, "\(unrecorded.count) acknowledged keys have no event")
        #expect(acknowledged.isSubset(of: stored), "acknowledged keys missing from storage")
        #expect(Set(events.keys).subtracting(stored).isEmpty, "events of keys that are not stored (a change that did not commit)")
        #expect(stored.subtracting(events.keys).isEmpty, "stored keys without their event")

        // `events list` reads the same entries without moving any cursor.
        let list = try PortalProcess.run(["events", "list", "--after", "0", "--limit", "3", "--data-dir", data])
        #expect(list.status == 0, "\(list.error)")
        #expect(try Self.jsonLines(list.output).compactMap { $0["sequence"] as? Int } == [1, 2, 3])
        #expect(try Self.cursors(data).cursor == positions.newest)

        // A consumer no longer run is forgotten (so it stops holding entries back from pruning);
        // the portal's own cannot be.
        #expect(try PortalProcess.run(["events", "forget", "--consumer", Self.consumer, "--data-dir", data]).status == 0)
        #expect(try Self.cursors(data).cursor == nil)
        #expect(try PortalProcess.run(["events", "forget", "--consumer", Self.consumer, "--data-dir", data]).status == 1, "already gone")
        #expect(try PortalProcess.run(["events", "forget", "--consumer", "notifications", "--data-dir", data]).status == 64)

        let verify = try PortalProcess.run(["audit", "verify", "--data-dir", data])
        #expect(verify.status == 0, "\(verify.error)")
        #expect(verify.output.contains("audit: intact"))
    }

    @Test func aJobWhoseWorkerWasKilledRunsAgainAfterItsLease() throws {
        let target = try SilentServer()
        defer { target.stop() }
        let lease = ["PORTAL_JOBS_LEASE_SECONDS": "5"]
        let portal = try Self.startPortal(environment: lease)
        let data = portal.dataDirectory
        let admin = try ToolsProcessTests.signIn(portal.port, "admin", Self.adminPassword)
        #expect(try RawHTTPConnection.post(port: portal.port, "/api/packs/host/enabled", json: #"{"enabled":true}"#, headers: admin.headers).status == 204)
        // Read-risk runs wait for an approval that the requester may give, so the run is
        // executed by a `run.execute` job once approved.
        let policy = #"{"schemaVersion":1,"rules":{"read":{"required":true,"mode":"any-one","approvers":[],"allowSelfApproval":true,"expiresAfterMinutes":60}}}"#
        let changed = try RawHTTPConnection.send("PUT", port: portal.port, "/api/approvals/policy", json: policy, headers: admin.headers)
        #expect(changed.status == 204, "\(changed.text)")
        let requested = try RawHTTPConnection.post(port: portal.port, "/api/tools/host.http-check/runs",
                                                   json: #"{"input":{"url":"http://127.0.0.1:\#(target.port)/"}}"#, headers: admin.headers)
        #expect(requested.status == 202, "\(requested.text)")
        let runID = try #require(try ToolsProcessTests.object(requested)["id"] as? String)
        let decided = try RawHTTPConnection.post(port: portal.port, "/api/approvals/\(runID)/decision", json: #"{"approve":true,"comment":"crash test"}"#,
                                                 headers: admin.headers)
        #expect(decided.status == 200, "\(decided.text)")

        // The job's handler is inside the HTTP check (which waits up to 30 s for an answer)
        // once the target has accepted its connection.
        let checking = Self.waitUntil(timeout: .seconds(30)) { target.connections >= 1 }
        #expect(checking, "the approved run's HTTP check never connected")
        portal.signal(SIGKILL)
        _ = portal.waitForExit()
        let connectionsBeforeRestart = target.connections

        let key = "run.execute:\(runID)"
        let killed = try #require(try Self.job(key, in: data), "no job for the approved run")
        #expect(killed["state"] as? String == "running")
        #expect(killed["attempts"] as? Int == 1)
        let leaseEnds = try #require(Self.date(killed["leaseUntil"]), "\(killed)")

        let restarted = try Self.startPortal(dataDirectory: data, environment: lease)
        var final: [String: Any] = [:]
        let ended = try Self.waitUntil(timeout: .seconds(60)) {
            final = try Self.job(key, in: data) ?? [:]
            return ["succeeded", "dead", "cancelled"].contains(final["state"] as? String ?? "")
        }
        #expect(ended, "the job did not end: \(final)")
        #expect(final["attempts"] as? Int == 2, "claimed once more after the kill: \(final)")
        #expect(final["state"] as? String == "succeeded", "\(final)")
        let finished = try #require(Self.date(final["updatedAt"]), "\(final)")
        #expect(finished >= leaseEnds, "claimed again only once the killed worker's lease had ended")

        // The second attempt did not run the check again: the restart had marked the run
        // interrupted (whether it took effect is unknown), and the job saw that.
        let admin2 = try ToolsProcessTests.signIn(restarted.port, "admin", Self.adminPassword)
        let run = try ToolsProcessTests.object(try RawHTTPConnection.get(port: restarted.port, "/api/runs/\(runID)", headers: admin2.headers))
        #expect(run["status"] as? String == "interrupted")
        #expect(target.connections == connectionsBeforeRestart)
        restarted.signal(SIGTERM)
        #expect(restarted.waitForExit() == 0)
    }

    // MARK: Helpers

    /// One run of `portal events consume` as the test's consumer; the entries it printed.
    static func consume(_ dataDirectory: String, limit: Int) throws -> [[String: Any]] {
        let result = try PortalProcess.run(["events", "consume", "--consumer", consumer, "--limit", String(limit), "--data-dir", dataDirectory])
        try #require(result.status == 0, "\(result.error)")
        return try jsonLines(result.output)
    }

    /// The newest sequence and the test consumer's cursor, from `portal events cursors --json`.
    static func cursors(_ dataDirectory: String) throws -> (newest: Int, cursor: Int?) {
        let result = try PortalProcess.run(["events", "cursors", "--json", "--data-dir", dataDirectory])
        try #require(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        let newest = try #require(object["newest"] as? Int, "\(result.output)")
        return (newest, (object["consumers"] as? [String: Any])?[consumer] as? Int)
    }

    /// The job holding `idempotencyKey`, from `portal jobs list`.
    static func job(_ idempotencyKey: String, in dataDirectory: String) throws -> [String: Any]? {
        let result = try PortalProcess.run(["jobs", "list", "--data-dir", dataDirectory])
        try #require(result.status == 0, "\(result.error)")
        return try jsonLines(result.output).first { $0["idempotencyKey"] as? String == idempotencyKey }
    }

    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    /// Polls `condition` until it holds or `timeout` passed (bounded; for conditions in other
    /// processes, which cannot signal this one).
    static func waitUntil(timeout: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}

/// Threads that create API keys over HTTP, one blocking request at a time each, until their
/// first failure, their quota or `stop()`. Keeps the keys the portal acknowledged (201), by id.
final class KeyWriters: Sendable {
    struct State {
        var acknowledged: [String: String] = [:]
        /// No answer, or one that could not be read: the key may or may not exist.
        var failures: [String] = []
        /// An answer other than 201.
        var refusals: [String] = []
        var running = 0
    }

    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)

    var acknowledged: [String: String] { state.withLock { $0.acknowledged } }
    var failures: [String] { state.withLock { $0.failures } }
    var refusals: [String] { state.withLock { $0.refusals } }
    var running: Int { state.withLock { $0.running } }

    func start(_ count: Int, port: Int, headers: [String: String], prefix: String, writesEach: Int = .max) {
        state.withLock { $0.running += count }
        for writer in 0..<count {
            Thread.detachNewThread { [self] in
                defer { state.withLock { $0.running -= 1 } }
                for number in 0..<writesEach {
                    if stopped.load(ordering: .acquiring) { return }
                    let name = "\(prefix)-\(writer)-\(number)"
                    let response: RawHTTPConnection.Response
                    do {
                        response = try RawHTTPConnection.post(port: port, "/api/keys", json: #"{"name":"\#(name)","role":"viewer"}"#, headers: headers)
                    } catch {
                        state.withLock { $0.failures.append("\(name): \(error)") }
                        return
                    }
                    guard response.status == 201 else {
                        state.withLock { $0.refusals.append("\(name): \(response.status) \(response.text)") }
                        return
                    }
                    guard let id = Self.keyID(in: response) else {
                        state.withLock { $0.failures.append("\(name): unreadable answer \(response.text)") }
                        return
                    }
                    state.withLock { $0.acknowledged[id] = name }
                }
            }
        }
    }

    func stop() { stopped.store(true, ordering: .releasing) }

    /// Waits (bounded) until every writer thread has ended.
    func waitUntilFinished(timeout: Duration) -> Bool {
        CrashConsistencyTests.waitUntil(timeout: timeout) { running == 0 }
    }

    static func keyID(in response: RawHTTPConnection.Response) -> String? {
        guard let body = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let key = body["key"] as? [String: Any], let id = key["id"] as? String
        else { return nil }
        return id.uppercased()
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never answers, holding them open
/// until `stop()`: an HTTP check against it waits for its own timeout.
final class SilentServer: Sendable {
    let port: Int
    private let listener: Int32
    private let accepted = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let held = Mutex<[Int32]>([])

    /// How many connections it accepted.
    var connections: Int { accepted.load(ordering: .acquiring) }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else {
            let code = errno
            close(listener)
            throw ProcessFailure("cannot listen on 127.0.0.1: errno \(code)")
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .acquiring) {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { if errno == EINTR { continue } else { return } }
                held.withLock { $0.append(connection) }
                accepted.add(1, ordering: .releasing)
            }
        }
    }

    /// Stops accepting and closes the held connections. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for connection in held.withLock({ $0 }) { close(connection) }
    }

    deinit { stop() }
}
