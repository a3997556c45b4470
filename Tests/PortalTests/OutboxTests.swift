import Foundation
import KV
import Testing
@testable import Portal

/// The transactional outbox on a whole portal core: an event exists exactly when its change
/// committed, numbered without gaps in commit order; consumers read from durable cursors that
/// move with their own writes; pruning waits for the slowest consumer; audit trails written
/// before typed events still verify and read as today's kinds; notifications reach the right
/// people. The cores here run no services, so nothing consumes behind the test's back.
@Suite struct OutboxTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portal-outbox-\(UUID().uuidString)").path
    }

    /// A core without services on `directory` (a new one when `nil`).
    static func open(_ directory: String? = nil) async throws -> PortalCore {
        var options = KV.Environment.Options()
        options.syncOnCommit = false
        let environment = try KV.Environment(directory: directory ?? Self.directory(), options: options)
        return try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
    }

    /// The newest sequence in the outbox (0 when it is empty).
    static func newest(_ core: PortalCore) throws -> UInt64 {
        try core.outbox.entries(after: 0, limit: 100_000).last?.sequence ?? 0
    }

    /// The newest audit entry's sequence (0 when there is none).
    static func auditHead(_ core: PortalCore) throws -> UInt64 {
        try core.audit.page(limit: 1) { _ in true }.first?.sequence ?? 0
    }

    /// The detail of a security event's entry (the slug, for `organization.created`).
    static func detail(_ entry: OutboxEntry) -> String? {
        if case let .security(event) = entry.event { event.detail } else { nil }
    }

    /// Whether `stream` holds a signal now, without waiting for one: `next()` in a cancelled
    /// task still returns an element already buffered, and `nil` at once otherwise. Ends the
    /// stream.
    static func holdsSignal(_ stream: AsyncStream<Void>) async -> Bool {
        let probe = Task {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() != nil
        }
        probe.cancel()
        return await probe.value
    }

    struct Abort: Error {}

    // MARK: Recording

    /// A write that records an event and then throws leaves no outbox entry and no audit entry
    /// and wakes no listener; the next committed event takes the next number.
    @Test func aRolledBackWriteLeavesNoEventAndWakesNobody() async throws {
        let core = try await Self.open()
        let outbox = core.outbox, events = core.securityEvents
        let before = try Self.newest(core), auditBefore = try Self.auditHead(core)
        let listener = outbox.changes()
        await #expect(throws: Abort.self) {
            try await core.environment.write { txn in
                try events.record(SecurityEvent(kind: .organizationCreated, userID: nil, username: nil, organizationID: nil, detail: "never"), in: txn)
                throw Abort()
            }
        }
        #expect(try outbox.entries(after: before, limit: 10).isEmpty)
        #expect(try Self.auditHead(core) == auditBefore)
        #expect(try core.audit.page(limit: 100) { $0.detail == "never" }.isEmpty)
        #expect(await Self.holdsSignal(listener) == false, "nobody was woken")

        let woken = outbox.changes()
        _ = try await core.organizations.create(slug: "after", displayName: "After")
        let entries = try outbox.entries(after: before, limit: 10)
        #expect(entries.map(\.sequence) == [before + 1], "no gap where the rolled-back event was")
        #expect(entries.first?.event.kind == .organizationCreated && entries.first.flatMap(Self.detail) == "after")
        #expect(try Self.auditHead(core) == auditBefore + 1)
        #expect(await Self.holdsSignal(woken), "a committed event wakes its listeners")
    }

    /// Eight writers recording events at once get gapless numbers in commit order: each
    /// writer's entries in the order it wrote them, and the audit trail (written in the same
    /// transactions) in the same order as the outbox.
    @Test func concurrentWritersGetGaplessNumbersInCommitOrder() async throws {
        let core = try await Self.open()
        let start = try Self.newest(core)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<10 {
                        _ = try await core.organizations.create(slug: "w\(writer)-\(index)", displayName: "Writer \(writer) #\(index)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let entries = try core.outbox.entries(after: start, limit: 1000)
        #expect(entries.map(\.sequence) == Array((start + 1)...(start + 80)))
        #expect(entries.allSatisfy { $0.event.kind == .organizationCreated })
        let slugs = entries.compactMap(Self.detail)
        #expect(slugs.count == 80)
        for writer in 0..<8 {
            #expect(slugs.filter { $0.hasPrefix("w\(writer)-") } == (0..<10).map { "w\(writer)-\($0)" }, "writer \(writer)")
        }
        let audited = try core.audit.page(limit: 1000) { $0.kind == EventKind.organizationCreated.rawValue }.reversed().map(\.detail)
        #expect(Array(audited) == slugs)
    }

    // MARK: Consuming

    /// A handler that throws leaves the cursor where it was and rolls back its own writes, so
    /// the same entries come again; a consumer resumes after its last acknowledged entry when
    /// the storage is closed and opened again.
    @Test func aFailedBatchComesAgainAndAConsumerResumesAfterAReopen() async throws {
        let directory = Self.directory()
        let core = try await Self.open(directory)
        let outbox = core.outbox, jobs = core.jobs
        try await outbox.register("probe")
        let start = try outbox.cursor(of: "probe")
        for slug in ["alpha", "beta", "gamma"] { _ = try await core.organizations.create(slug: slug, displayName: slug) }

        let offered = JobsTests.Recorder<[UInt64]>()
        await #expect(throws: Abort.self) {
            try await outbox.consume("probe", limit: 10) { entries, txn in
                offered.append(entries.map(\.sequence))
                try jobs.enqueue(JobRequest(kind: "follow-up", idempotencyKey: "follow-up"), in: txn)
                throw Abort()
            }
        }
        #expect(offered.values == [[start + 1, start + 2, start + 3]])
        #expect(try outbox.cursor(of: "probe") == start, "the cursor did not move")
        #expect(try jobs.job(idempotencyKey: "follow-up") == nil, "the handler's writes rolled back with it")

        let handled = try await outbox.consume("probe", limit: 2) { _, txn in
            _ = try jobs.enqueue(JobRequest(kind: "follow-up", idempotencyKey: "follow-up"), in: txn)
        }
        #expect(handled.map(\.sequence) == [start + 1, start + 2], "the same entries again")
        #expect(try outbox.cursor(of: "probe") == start + 2)
        #expect(try jobs.job(idempotencyKey: "follow-up")?.state == .pending)

        core.environment.close()
        let reopened = try await Self.open(directory)
        #expect(try reopened.outbox.cursor(of: "probe") == start + 2)
        let rest = try await reopened.outbox.consume("probe")
        #expect(rest.map(\.sequence) == [start + 3])
        #expect(rest.first.flatMap(Self.detail) == "gamma")
        #expect(try await reopened.outbox.consume("probe").isEmpty, "up to date")
        #expect(try reopened.outbox.cursor(of: "probe") == start + 3)
    }

    /// A new consumer starts at the newest entry; pruning never removes an entry a consumer has
    /// not passed nor one younger than the cutoff; numbering goes on after pruning emptied the
    /// table, for new entries and for consumers registered then.
    @Test func registeringStartsAtTheNewestAndPruningWaitsForTheSlowest() async throws {
        let core = try await Self.open()
        let outbox = core.outbox
        try await outbox.register("slow")
        let base = try outbox.cursor(of: "slow")
        #expect(try base == Self.newest(core))
        _ = try await core.organizations.create(slug: "one", displayName: "One")
        _ = try await core.organizations.create(slug: "two", displayName: "Two")
        try await outbox.register("late")
        #expect(try outbox.cursor(of: "late") == base + 2, "starts at the newest entry")
        #expect(try await outbox.consume("late").isEmpty, "and skips the history")
        try await outbox.register("slow")
        #expect(try outbox.cursor(of: "slow") == base, "registering again changes nothing")
        _ = try await core.organizations.create(slug: "three", displayName: "Three")
        #expect(try await outbox.consume("late").map(\.sequence) == [base + 3])

        let everything = Date().addingTimeInterval(3600)
        _ = try await outbox.prune(before: everything)
        #expect(try outbox.entries(after: 0, limit: 100).map(\.sequence) == [base + 1, base + 2, base + 3], "all after where `slow` stands")
        #expect(try await outbox.consume("slow", limit: 2).map(\.sequence) == [base + 1, base + 2])
        #expect(try await outbox.prune(before: everything) == 2)
        #expect(try outbox.entries(after: 0, limit: 100).map(\.sequence) == [base + 3])
        #expect(try await outbox.consume("slow").map(\.sequence) == [base + 3])
        #expect(try await outbox.prune(before: everything) == 1)
        #expect(try outbox.entries(after: 0, limit: 100).isEmpty)

        try await outbox.register("fresh")
        #expect(try outbox.cursor(of: "fresh") == base + 3, "a consumer registered on an empty table starts after the pruned entries")
        _ = try await core.organizations.create(slug: "four", displayName: "Four")
        let four = try #require(try outbox.entries(after: 0, limit: 100).first)
        #expect(four.sequence == base + 4, "numbering goes on after the table was emptied")
        #expect(try await outbox.consume("fresh").map(\.sequence) == [base + 4])

        for consumer in ["slow", "late"] { _ = try await outbox.consume(consumer) }
        #expect(try await outbox.prune(before: four.time) == 0, "passed by all, but not older than the cutoff")
        #expect(try await outbox.prune(before: four.time.addingTimeInterval(0.001)) == 1)
    }

    // MARK: Audit compatibility

    /// A trail holding entries written under the old kind names (`tool.run.requested`,
    /// `tool.run.finished`, `approval.policy.changed`, `sign-out`) followed by today's events
    /// verifies intact; each old name reads as today's kind, and the security events list
    /// reports an old `sign-out` as `session.ended`.
    @Test func aTrailWithLegacyKindsVerifiesAndReadsAsTodaysKinds() async throws {
        let core = try await Self.open()
        let audit = core.audit
        let userID = UUID(), runID = UUID()
        let countBefore = try audit.page(limit: 100_000) { _ in true }.count
        let legacy: [(kind: String, outcome: String)] = [
            ("tool.run.requested", "pending-approval"),
            ("tool.run.finished", "succeeded"),
            ("tool.run.finished", "expired"),
            ("approval.policy.changed", "done"),
            ("sign-out", "done"),
        ]
        // As the code before typed events wrote them: appended in the change's transaction.
        try await core.environment.write { txn in
            for (kind, outcome) in legacy {
                let isRun = kind.hasPrefix("tool.run.")
                try audit.append(AuditEntry(organizationID: nil, principal: "user:\(userID)", principalName: "olga", kind: kind,
                                            tool: isRun ? "host.memory" : nil, runID: isRun ? runID : nil, outcome: outcome, detail: "legacy"), in: txn)
            }
        }
        _ = try await core.organizations.create(slug: "today", displayName: "Today")
        try await core.securityEvents.record(SecurityEvent(kind: .signOut, userID: userID, username: "olga", organizationID: nil, detail: "today"))

        let verification = try audit.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.entriesChecked == countBefore + legacy.count + 2)

        let stored = try audit.page(limit: 100) { $0.detail == "legacy" }.reversed().map { EventKind(stored: $0.kind, outcome: $0.outcome) }
        #expect(Array(stored) == [.runRequested, .runSucceeded, .runExpired, .approvalPolicyChanged, .signOut])

        #expect(EventKind(stored: "tool.run.requested", outcome: "pending-approval") == .runRequested)
        #expect(EventKind(stored: "tool.run.refused", outcome: "refused") == .runRefused)
        let finished: [(String, EventKind)] = [
            ("succeeded", .runSucceeded), ("failed", .runFailed), ("rejected", .runRejected), ("expired", .runExpired),
            ("interrupted", .runInterrupted), ("garbled", .runFailed),
        ]
        for (outcome, kind) in finished {
            #expect(EventKind(stored: "tool.run.finished", outcome: outcome) == kind, "tool.run.finished / \(outcome)")
        }
        #expect(EventKind(stored: "approval.policy.changed", outcome: "done") == .approvalPolicyChanged)
        #expect(EventKind(stored: "sign-out", outcome: "done") == .signOut)
        for kind in EventKind.allCases { #expect(EventKind(stored: kind.rawValue, outcome: "done") == kind) }
        #expect(EventKind(stored: "no.such.kind", outcome: "done") == nil)

        let olgas = try core.securityEvents.recent().filter { $0.userID == userID }
        #expect(olgas.map(\.kind) == [.signOut, .signOut], "only the security kinds, old and new")
        #expect(olgas.map(\.detail) == ["today", "legacy"])
        #expect(olgas.last?.username == "olga")
    }

    // MARK: Where entries live

    /// Writes `event` as the code before events moved into the audit trail did: its audit
    /// entry as sorted-key JSON (the `J` format) with the head mark knowing no event, and the
    /// event in a row of its own.
    static func recordAsBefore(_ core: PortalCore, _ event: SecurityEvent) async throws {
        let audit = core.audit, outbox = core.outbox
        try await core.environment.write { txn in
            let key = try audit.chainKey(create: true)
            let head = try txn.get(audit.marks, "head")
            var entry = AuditEntry(time: event.time, organizationID: event.organizationID, principal: event.userID.map { "user:\($0)" },
                                   principalName: event.username, kind: event.kind.rawValue, outcome: "done", detail: event.detail)
            entry.sequence = (head?.sequence ?? 0) + 1
            entry.previousHash = head?.hash ?? AuditTrail.genesis
            entry.hash = AuditTrail.entryHash(entry, key: key)
            try txn.put(audit.entries, entry.sequence, AuditRow(entry: entry, eventSequence: nil, event: nil, signedBody: nil))
            try txn.put(audit.marks, "head", AuditTrail.ChainMark(sequence: entry.sequence, hash: entry.hash,
                                                                  signature: AuditTrail.markSignature("head", sequence: entry.sequence, hash: entry.hash, key: key)))
            let sequence = (try txn.lastKey(outbox.entries) ?? 0) + 1
            try txn.put(outbox.entries, sequence, OutboxEntry(sequence: sequence, time: event.time, organizationID: event.organizationID, requestID: nil,
                                                              event: .security(event)))
        }
    }

    /// An event recorded without an audit entry (as an approval request or a conversation
    /// turn is): it gets a row of its own.
    static func recordUnaudited(_ core: PortalCore, turn: Int) async throws {
        let outbox = core.outbox
        try await core.environment.write { txn in
            try outbox.record(.chatTurn(ChatTurnEvent(sessionID: .generate(), turnID: .generate(), ownerID: UUID(), role: .user,
                                                      runID: "turn \(turn)", runStatus: nil)),
                              organizationID: nil, time: Date(), in: txn)
        }
    }

    /// Data written before events rode in their audit entries (legacy rows, legacy outbox rows)
    /// followed by today's events: the chain verifies across the two formats, the outbox reads
    /// one gapless sequence in commit order (carried and own rows merged) for a consumer
    /// registered before, also after a reopen; pruning the outbox drops the own rows and hides
    /// the carried events, whose audit entries stay; pruning the audit trail never takes an
    /// event a consumer has not read.
    @Test func eventsWrittenBeforeTheyMovedIntoTheAuditTrailReadInOneSequenceAfterwards() async throws {
        let directory = Self.directory()
        var core = try await Self.open(directory)
        try #require(try Self.auditHead(core) == 0 && Self.newest(core) == 0, "a new core has no events")
        try await core.outbox.register("before", from: 0)
        for detail in ["legacy one", "legacy two", "legacy three"] {
            try await Self.recordAsBefore(core, SecurityEvent(kind: .signOut, userID: UUID(), username: "olga", organizationID: nil, detail: detail))
        }
        _ = try await core.organizations.create(slug: "today", displayName: "Today")
        try await Self.recordUnaudited(core, turn: 1)
        try await core.securityEvents.record(SecurityEvent(kind: .signOut, userID: UUID(), username: "olga", organizationID: nil, detail: "today"))

        let rows = try core.environment.read { txn in
            var rows: [AuditRow] = []
            try txn.forEach(core.audit.entries) { (_, row) throws(KVError) in rows.append(row); return true }
            return rows
        }
        #expect(rows.map { $0.signedBody == nil } == [true, true, true, false, false], "three entries in the earlier format, two in today's")
        #expect(rows.map(\.eventSequence) == [nil, nil, nil, 4, 6])
        let bodies = rows.suffix(2).map { String(decoding: $0.signedBody ?? [], as: UTF8.self) }
        #expect(bodies.allSatisfy { $0.contains("\"toldByEntry\":true") && !$0.contains("payload") },
                "a security event is told by its entry alone, not written twice: \(bodies)")
        let verification = try core.audit.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.entriesChecked == 5)

        let expected: [EventKind] = [.signOut, .signOut, .signOut, .organizationCreated, .chatTurn, .signOut]
        let all = try core.outbox.entries(after: 0, limit: 100)
        #expect(all.map(\.sequence) == Array(1...6))
        #expect(all.map(\.event.kind) == expected)
        #expect(all.compactMap(Self.detail) == ["legacy one", "legacy two", "legacy three", "today", "today"])
        #expect(try await core.outbox.consume("before", limit: 4).map(\.sequence) == [1, 2, 3, 4])

        core.environment.close()
        core = try await Self.open(directory)
        #expect(try core.outbox.entries(after: 0, limit: 100) == all, "the same after a reopen")
        #expect(try await core.outbox.consume("before").map(\.sequence) == [5, 6])
        try await core.outbox.register("after")
        #expect(try core.outbox.cursor(of: "after") == 6, "a new consumer starts at the newest, which an audit entry carries")

        let future = Date().addingTimeInterval(3600)
        #expect(try await core.outbox.prune(before: future) == 6)
        #expect(try core.outbox.entries(after: 0, limit: 100).isEmpty)
        #expect(try core.audit.verify().entriesChecked == 5, "the audit entries stay: they follow the audit retention")
        try await core.securityEvents.record(SecurityEvent(kind: .signOut, userID: UUID(), username: "olga", organizationID: nil, detail: "later"))
        #expect(try core.outbox.entries(after: 0, limit: 100).map(\.sequence) == [7])

        // The audit retention stops before the entry carrying event 7, which no consumer has read.
        #expect(try await core.audit.prune(before: future, keepingEventsAfter: core.outbox.slowestCursor()) == 5)
        let pruned = try core.audit.verify()
        #expect(pruned.isIntact && pruned.entriesChecked == 1, "\(pruned.problems)")
        #expect(try await core.outbox.consume("before").compactMap(Self.detail) == ["later"])
        _ = try await core.outbox.consume("after")
        #expect(try await core.audit.prune(before: future, keepingEventsAfter: core.outbox.slowestCursor()) == 1)
        try await Self.recordUnaudited(core, turn: 2)
        #expect(try core.outbox.entries(after: 0, limit: 100).map(\.sequence) == [8], "numbering goes on with both places emptied")
    }

    /// Wherever a consumer stands, it reads the same merged sequence: every reading position
    /// over a trail that starts in the earlier format and then mixes carried and own rows in
    /// runs of every length (the first carried entry is found by probing and bisecting).
    @Test func everyPositionReadsTheRestOfOneGaplessSequence() async throws {
        let core = try await Self.open()
        for index in 0..<5 {
            try await Self.recordAsBefore(core, SecurityEvent(kind: .signOut, userID: nil, username: "olga", organizationID: nil, detail: "legacy \(index)"))
        }
        var state: UInt64 = 18  // a fixed pseudo-random pattern (LCG)
        for index in 0..<150 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            if (state >> 33) % 3 == 0 {
                try await Self.recordUnaudited(core, turn: index)
            } else {
                try await core.securityEvents.record(SecurityEvent(kind: .signOut, userID: nil, username: "olga", organizationID: nil, detail: "\(index)"))
            }
        }
        let newest = try Self.newest(core)
        #expect(newest == 155)
        #expect(try core.audit.verify().isIntact)
        func expectEveryPosition(from start: UInt64) throws {
            for position in start...newest {
                let rest = try core.outbox.entries(after: position, limit: 1_000).map(\.sequence)
                #expect(rest == (position < newest ? Array((position + 1)...newest) : []), "after \(position)")
                let page = try core.outbox.entries(after: position, limit: 7).map(\.sequence)
                #expect(page == Array(rest.prefix(7)), "a page of 7 after \(position)")
            }
        }
        try expectEveryPosition(from: 0)

        // Entries that carry no event (an audit entry written on its own) keep the numbering
        // they follow; the audit trail's oldest entries pruned up to event 90 leave every
        // position from 90 on reading the same.
        try await core.environment.write { txn in
            for _ in 0..<3 { try core.audit.append(AuditEntry(organizationID: nil, principal: nil, principalName: "olga", kind: "note", outcome: "done"), in: txn) }
        }
        #expect(try await core.audit.prune(before: Date().addingTimeInterval(3600), keepingEventsAfter: 90) > 0)
        #expect(try core.audit.verify().isIntact)
        try expectEveryPosition(from: 90)
    }

    /// The outbox numbering the audit trail keeps is checked with the chain: a head whose event
    /// number was changed, and entries whose events go out of order (even when signed), are
    /// reported by `verify`.
    @Test func eventNumbersInTheAuditTrailAreVerified() async throws {
        let core = try await Self.open()
        for detail in ["one", "two", "three"] {
            try await core.securityEvents.record(SecurityEvent(kind: .signOut, userID: nil, username: "olga", organizationID: nil, detail: detail))
        }
        let audit = core.audit
        let head = try #require(try core.environment.read { txn in try txn.get(audit.marks, "head") })
        var lowered = head
        lowered.eventSequence = 1
        let forgedHead = lowered
        try await core.environment.write { txn in try txn.put(audit.marks, "head", forgedHead) }
        #expect(try audit.verify().problems.contains("the head's signature does not match (it was edited)"))
        try await core.environment.write { txn in try txn.put(audit.marks, "head", head) }
        #expect(try audit.verify().isIntact)

        // Entry 3 re-signed (with the key) to carry event 2 again: signed, chained, out of order.
        let key = try audit.chainKey(create: false)
        let third = try #require(try core.environment.read { txn in try txn.get(audit.entries, 3) })
        var entry = third.entry
        entry.hash = ""
        let body = try AuditRow.signedBody(entry, eventSequence: 2, event: third.event)
        entry.hash = AuditTrail.rowHash(previousHash: entry.previousHash, body: body, key: key)
        let resigned = AuditRow(entry: entry, eventSequence: 2, event: third.event, signedBody: body)
        let newHead = AuditTrail.ChainMark(sequence: 3, hash: entry.hash,
                                           signature: AuditTrail.markSignature("head", sequence: 3, hash: entry.hash, eventSequence: 2, key: key), eventSequence: 2)
        try await core.environment.write { txn in
            try txn.put(audit.entries, 3, resigned)
            try txn.put(audit.marks, "head", newHead)
        }
        #expect(try audit.verify().problems == ["entry 3 carries event 2 out of order (after 2)"])
    }

    // MARK: Notifications

    /// An approval request goes to whoever may decide in the organization; a run's result to
    /// its requester and deciders; a conversation turn to its owner; a request alone to
    /// nobody; an event that may end access to the portal itself.
    @Test func notificationsReachTheRightPeople() throws {
        let organizationID = UUID(), requester = UUID(), ada = UUID(), ben = UUID(), owner = UUID()
        func entry(_ event: DomainEvent) -> OutboxEntry {
            OutboxEntry(sequence: 1, time: Date(), organizationID: organizationID, requestID: "r", event: event)
        }
        func run(_ status: RunStatus, decidedBy deciders: [UUID] = []) -> RunEvent {
            RunEvent(ToolRun(id: TimeOrderedID.generate(), organizationID: organizationID, tool: "host.memory", toolTitle: "Memory", risk: .high,
                             requesterID: requester, requesterName: "olga", apiKeyID: nil, entryPoint: .api, requestID: "r",
                             input: .object([:]), redactedInput: .object([:]), status: status, createdAt: Date(), updatedAt: Date(),
                             approvalRule: nil, approvalExpiresAt: nil,
                             decisions: deciders.map { ApprovalDecision(userID: $0, username: "approver", approve: true, comment: "", time: Date()) },
                             output: nil, durationMilliseconds: nil))
        }

        let requested = run(.pendingApproval)
        let approval = try #require(PortalNotification.notification(for: entry(.approvalRequested(requested))))
        #expect(approval.kind == .approvalRequested && approval.audience == .permission(.approvalsDecide))
        #expect(approval.organizationID == organizationID && approval.runID == requested.runID.description && approval.tool == "host.memory")

        let decided = run(.succeeded, decidedBy: [ada, ben])
        let result = try #require(PortalNotification.notification(for: entry(.runFinished(decided))))
        #expect(result.kind == .runSucceeded && result.status == "succeeded")
        #expect(result.audience == .users([requester, ada, ben]))
        let failed = try #require(PortalNotification.notification(for: entry(.runFinished(run(.failed)))))
        #expect(failed.kind == .runFailed && failed.audience == .users([requester]))

        let turn = ChatTurnEvent(sessionID: TimeOrderedID.generate(), turnID: TimeOrderedID.generate(), ownerID: owner, role: .assistant, runID: nil, runStatus: nil)
        let chat = try #require(PortalNotification.notification(for: entry(.chatTurn(turn))))
        #expect(chat.kind == .chatTurn && chat.audience == .users([owner]) && chat.sessionID == turn.sessionID.description)

        #expect(PortalNotification.notification(for: entry(.runRequested(run(.running)))) == nil, "a request alone tells nobody")
        let created = SecurityEvent(kind: .organizationCreated, userID: ada, username: "ada", organizationID: organizationID, detail: "x")
        #expect(PortalNotification.notification(for: entry(.security(created))) == nil)
        let signOut = SecurityEvent(kind: .signOut, userID: ada, username: "ada", organizationID: organizationID, detail: "x")
        let ended = try #require(PortalNotification.notification(for: entry(.security(signOut))))
        #expect(ended.audience == .portal && ended.mayEndAccess)
        // A webhook the portal turned off (410, a day of failures): the organization's admins, with why.
        let disabled = SecurityEvent(kind: .webhookDisabled, userID: nil, username: nil, organizationID: organizationID,
                                     detail: "https://hooks.example.com: the receiver answered 410 Gone")
        let alert = try #require(PortalNotification.notification(for: entry(.security(disabled))))
        #expect(alert.kind == .webhookDisabled && alert.audience == .permission(.admin) && !alert.mayEndAccess)
        #expect(alert.detail == disabled.detail && alert.organizationID == organizationID)
    }
}
