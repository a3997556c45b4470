public import FoundationEssentials
public import KV
import Logging

/// Where a run request came from. Every entry point goes through `ToolRuns.request`.
public enum EntryPoint: String, Codable, Sendable, CaseIterable {
    case catalog, api, chat, workflow, mcp
}

/// Where a run is in its life.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case pendingApproval = "pending-approval"
    case running, succeeded, failed, rejected, expired
    /// The portal stopped while the run was executing; whether it took effect is unknown.
    case interrupted
    /// Withdrawn while it waited for approval: it never ran.
    case cancelled

    public var isFinal: Bool { self != .pendingApproval && self != .running }
}

/// One request to run a tool, and what became of it.
public struct ToolRun: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: TimeOrderedID
    public let organizationID: UUID
    public let tool: String
    public let toolTitle: String
    public let risk: RiskLevel
    public let requesterID: UUID
    public let requesterName: String
    public let apiKeyID: UUID?
    public let entryPoint: EntryPoint
    public let requestID: String
    /// The validated input, defaults filled. Fields the schema marks `writeOnly` are never
    /// shown or audited (`redactedInput`).
    public let input: JSONAny
    public let redactedInput: JSONAny
    public var status: RunStatus
    public let createdAt: Date
    public var updatedAt: Date
    public var approvalRule: ApprovalRule?
    public var approvalExpiresAt: Date?
    public var decisions: [ApprovalDecision]
    public var output: ToolOutput?
    public var durationMilliseconds: Double?
    /// When the executor was started on it; a run that is `running` with this set when the
    /// portal starts was cut off by a stop.
    public var startedAt: Date?
}

/// Tool runs: the one path from a request to an audited result.
///
/// `request` is the only way to run a tool, for every entry point, and it always takes the
/// same steps in the same order: the principal is authenticated (a `Principal` exists only
/// for a verified session or API key) and acting in an organization → the tool exists in a
/// pack that organization enabled → the principal's role grants the tool's permission → the
/// input matches the schema → the approval gate (by risk and the organization's policy) →
/// execution → the audit entry → notifications. The executor is internal to this module, so
/// no entry point can reach it another way.
///
/// Guarantees: a run and its audit entry are written in one transaction at each step
/// (requested, decided, finished); a pending approval survives restarts and expires at its
/// deadline; a run executing when the portal stopped is marked `interrupted` at the next
/// start, never silently re-run; nobody approves their own high or destructive run, nor does
/// anyone whose account or role there the requester created or granted after the request or
/// within `independenceWindow` before it (the two-person rule cannot be met with a second
/// account of one's own); such a refusal is recorded with its reason.
public final class ToolRuns: Sendable {
    let environment: Environment
    let runs: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<ToolRun>>
    let pending: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<Date>>
    let policies: Table<Key<UUID>, JSONValue<ApprovalPolicy>>
    let catalog: ToolCatalog
    let organizations: Organizations
    let accounts: Accounts
    let outbox: Outbox
    let jobs: Jobs
    let executor: ToolExecutor
    public let notifications: Notifications
    let clock: any WallClock
    let logger = Logger(label: "portal.runs")
    /// How long before a request an account or role the requester made still disqualifies
    /// its holder from approving the requester's high and destructive runs.
    let independenceWindow: Duration

    init(environment: Environment, catalog: ToolCatalog, organizations: Organizations, accounts: Accounts, outbox: Outbox, jobs: Jobs,
         executor: ToolExecutor, notifications: Notifications, clock: any WallClock, independenceWindow: Duration) throws {
        self.environment = environment
        self.clock = clock
        self.independenceWindow = independenceWindow
        self.catalog = catalog
        self.organizations = organizations
        self.accounts = accounts
        self.outbox = outbox
        self.jobs = jobs
        self.executor = executor
        self.notifications = notifications
        runs = try environment.table("tool_runs", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<ToolRun>.self)
        pending = try environment.table("tool_runs_pending", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<Date>.self)
        policies = try environment.table("approval_policies", key: Key<UUID>.self, value: JSONValue<ApprovalPolicy>.self)
        jobs.register(JobKind(Self.executeJob, concurrency: 8, maxAttempts: 3) { [self] context in
            let payload = try context.payload(as: ExecutePayload.self)
            await executeApproved(runID: payload.runID, in: payload.organizationID, approver: payload.approver, attempt: context.attempt)
        })
    }

    static let executeJob = "run.execute"

    /// What the job that runs an approved run carries.
    struct ExecutePayload: Codable {
        let organizationID: UUID
        let runID: TimeOrderedID
        let approver: String
    }

    // MARK: Policy

    public func policy(for organizationID: UUID) throws -> ApprovalPolicy {
        try environment.read { txn in try txn.get(policies, organizationID) } ?? .standard
    }

    /// Replaces the organization's policy; `precondition` runs on the stored one inside the
    /// write (a lost-update check): when it throws, nothing changes.
    public func setPolicy(_ policy: ApprovalPolicy, by actor: Principal, precondition: (@Sendable (ApprovalPolicy) throws -> Void)? = nil) async throws {
        guard let organizationID = actor.organizationID else { throw PortalError.invalid("choose an organization first") }
        try policy.validate()
        let now = clock.now()
        let entry = AuditEntry(time: now, organizationID: organizationID, principal: "user:\(actor.user.id)", principalName: actor.user.username,
                               kind: EventKind.approvalPolicyChanged.rawValue, outcome: "done", detail: String(decoding: try JSONEncoder().encode(policy), as: UTF8.self))
        try await environment.write { [self] txn in
            try precondition?(try txn.get(policies, organizationID) ?? .standard)
            try txn.put(policies, organizationID, policy)
            try outbox.record(.approvalPolicyChanged(policy), organizationID: organizationID, time: now, audit: entry, in: txn)
        }
    }

    // MARK: The one path

    public struct RunRequest: Sendable {
        public let principal: Principal
        public let tool: String
        public let input: JSONAny
        public let entryPoint: EntryPoint
        public let requestID: String

        public init(principal: Principal, tool: String, input: JSONAny, entryPoint: EntryPoint, requestID: String) {
            self.principal = principal
            self.tool = tool
            self.input = input
            self.entryPoint = entryPoint
            self.requestID = requestID
        }
    }

    /// Runs a tool, or files it for approval. Returns the run as it stands: finished, or
    /// `pending-approval`. Throws `ToolError` for an unknown tool, a missing permission or
    /// invalid input (nothing is recorded then but a refusal in the audit trail).
    public func request(_ request: RunRequest, now: Date? = nil) async throws -> ToolRun {
        let now = now ?? clock.now()
        let principal = request.principal
        guard let organizationID = principal.organizationID, let organization = try organizations.organization(organizationID) else {
            throw ToolError.forbidden("choose an organization before running tools")
        }
        guard let tool = try catalog.tool(named: request.tool, in: organizationID) else { throw ToolError.notFound(request.tool) }
        guard principal.has(tool.requiredPermission) else {
            try await refuse(request, tool: tool, organizationID: organizationID, reason: "missing permission \(tool.requiredPermission.rawValue)")
            throw ToolError.forbidden("running \(tool.name) needs the \(tool.requiredPermission.rawValue) permission")
        }
        let schema: JSONSchema
        do { schema = try tool.schema() } catch { throw ToolError.invalidTool(error.description) }
        let input: JSONAny
        do { input = try schema.prepare(request.input) } catch { throw ToolError.invalidInput(error) }
        if let optionLike = tool.optionLikeInputs(input) { throw ToolError.invalidInput(optionLike) }

        let rule = try policy(for: organizationID).rule(for: tool.risk)
        var run = ToolRun(
            id: TimeOrderedID.generate(now: now), organizationID: organizationID, tool: tool.name, toolTitle: tool.title, risk: tool.risk,
            requesterID: principal.user.id, requesterName: principal.user.username, apiKeyID: principal.apiKeyID, entryPoint: request.entryPoint,
            requestID: request.requestID, input: input, redactedInput: Self.redact(input, schema: schema.document),
            status: rule.required ? .pendingApproval : .running, createdAt: now, updatedAt: now,
            approvalRule: rule.required ? rule : nil,
            approvalExpiresAt: rule.required ? now.addingTimeInterval(Double(rule.expiresAfterMinutes) * 60) : nil,
            decisions: [], output: nil, durationMilliseconds: nil, startedAt: rule.required ? nil : now)
        let entry = AuditEntry(time: now, requestID: request.requestID, organizationID: organizationID, principal: principal.id,
                               principalName: principal.user.username, kind: EventKind.runRequested.rawValue, tool: tool.name, runID: run.id.uuid,
                               arguments: run.redactedInput, outcome: run.status.rawValue, detail: "via \(request.entryPoint.rawValue), risk \(tool.risk.rawValue)")
        let stored = run
        try await environment.write { [self] txn in
            try txn.put(runs, (organizationID, stored.id), stored)
            try outbox.record(.runRequested(RunEvent(stored)), organizationID: organizationID, requestID: stored.requestID, time: now, audit: entry, in: txn)
            if stored.status == .pendingApproval {
                try txn.put(pending, (organizationID, stored.id), stored.approvalExpiresAt!)
                try outbox.record(.approvalRequested(RunEvent(stored)), organizationID: organizationID, requestID: stored.requestID, time: now, in: txn)
            }
        }
        guard !rule.required else { return run }
        run = await execute(run, tool: tool, organization: organization)
        return run
    }

    /// Records a refused request in the audit trail.
    private func refuse(_ request: RunRequest, tool: Tool, organizationID: UUID, reason: String) async throws {
        let now = clock.now()
        let entry = AuditEntry(time: now, requestID: request.requestID, organizationID: organizationID, principal: request.principal.id,
                               principalName: request.principal.user.username, kind: EventKind.runRefused.rawValue, tool: tool.name,
                               outcome: "refused", detail: reason)
        let refusal = RunRefusal(tool: tool.name, requesterID: request.principal.user.id, reason: reason)
        try await environment.write { [outbox] txn in
            try outbox.record(.runRefused(refusal), organizationID: organizationID, requestID: request.requestID, time: now, audit: entry, in: txn)
        }
    }

    /// Executes a run that may go ahead and records the result with its audit entry.
    private func execute(_ run: ToolRun, tool: Tool, organization: Organization, approver: String? = nil) async -> ToolRun {
        var run = run
        let started = ContinuousClock.now
        let output = await executor.execute(tool, input: run.input, organization: organization, runID: run.id.uuid)
        run.durationMilliseconds = started.elapsedMilliseconds
        run.output = output
        run.status = output.succeeded ? .succeeded : .failed
        run.updatedAt = clock.now()
        await finish(run, approver: approver, detail: output.succeeded ? "" : String(output.error.prefix(500)))
        return run
    }

    /// Stores a run's final state with its audit entry and its event (which tells the people
    /// concerned).
    private func finish(_ run: ToolRun, approver: String?, detail: String) async {
        do {
            try await environment.write { [self] txn in try record(finished: run, approver: approver, detail: detail, in: txn) }
        } catch {
            // The run stays `running` and is marked interrupted at the next start.
            logger.error("storing a run's result failed", metadata: ["run": "\(run.id)", "error": "\(error)"])
        }
    }

    @available(*, noasync)
    private func record(finished run: ToolRun, approver: String?, detail: String, in txn: borrowing WriteTransaction) throws {
        try txn.put(runs, (run.organizationID, run.id), run)
        try outbox.record(.runFinished(RunEvent(run)), organizationID: run.organizationID, requestID: run.requestID, time: run.updatedAt,
                          audit: Self.finishedEntry(run, approver: approver, detail: detail), in: txn)
    }

    // MARK: Cancellation

    /// Withdraws a run that waits for approval, so it never runs: by its requester, or by
    /// someone who may decide approvals. A run that is executing cannot be stopped (a tool
    /// has no safe point to stop at: a half-done restart is worse than a finished one) and a
    /// finished one is final: both are `conflict`. The cancellation is audited as
    /// `run.cancelled` with the reason.
    public func cancel(runID: TimeOrderedID, reason: String, by principal: Principal, requestID: String) async throws -> ToolRun {
        let now = clock.now()
        guard let organizationID = principal.organizationID else { throw ToolError.notFound("run") }
        guard reason.count <= 2000 else { throw ToolError.invalidInput(InputError(problems: [InputProblem(field: "reason", message: "must be at most 2000 characters")])) }
        return try await environment.write { [self] txn in
            guard var run = try txn.get(runs, (organizationID, runID)) else { throw ToolError.notFound("run") }
            guard run.requesterID == principal.user.id || principal.has(.approvalsDecide) else {
                throw ToolError.forbidden("only the person who requested a run, or someone who decides approvals, may cancel it")
            }
            guard run.status == .pendingApproval else {
                throw PortalError.conflict(run.status == .running
                    ? "the run is executing and cannot be stopped safely; wait for its end"
                    : "the run already ended (\(run.status.rawValue))")
            }
            return try withdraw(&run, now: now, detail: "cancelled by \(principal.user.username)" + (reason.isEmpty ? "" : ": \(reason)"), txn: txn)
        }
    }

    /// Withdraws a run that waits for approval because what asked for it no longer needs it
    /// (its workflow step ended); no-op for a run in any other state.
    func withdraw(_ runID: TimeOrderedID, in organizationID: UUID, reason: String) async throws {
        let now = clock.now()
        try await environment.write { [self] txn in
            guard var run = try txn.get(runs, (organizationID, runID)), run.status == .pendingApproval else { return }
            _ = try withdraw(&run, now: now, detail: "withdrawn: \(reason)", txn: txn)
        }
    }

    @available(*, noasync)
    private func withdraw(_ run: inout ToolRun, now: Date, detail: String, txn: borrowing WriteTransaction) throws -> ToolRun {
        run.status = .cancelled
        run.updatedAt = now
        _ = try txn.delete(pending, (run.organizationID, run.id))
        try record(finished: run, approver: nil, detail: detail, in: txn)
        return run
    }

    // MARK: Approvals

    /// Records `principal`'s decision. Throws `ToolError.notFound` for a run not pending in
    /// the principal's organization, `.forbidden` for someone who may not decide it.
    /// Returns the run; an approved run executes in the background.
    public func decide(runID: TimeOrderedID, approve: Bool, comment: String, by principal: Principal, requestID: String, now: Date? = nil) async throws -> ToolRun {
        let now = now ?? clock.now()
        guard let organizationID = principal.organizationID else { throw ToolError.notFound("run") }
        guard comment.count <= 2000 else { throw ToolError.invalidInput(InputError(problems: [InputProblem(field: "comment", message: "must be at most 2000 characters")])) }
        guard principal.has(.approvalsDecide) else { throw ToolError.forbidden("deciding approvals needs the approvals:decide permission") }
        enum Outcome { case decided(ToolRun, execute: Bool), refused(String) }
        let outcome = try await environment.write { [self] txn -> Outcome in
            guard var run = try txn.get(runs, (organizationID, runID)) else { throw ToolError.notFound("run") }
            guard run.status == .pendingApproval, let rule = run.approvalRule else { throw ToolError.forbidden("this run is not waiting for approval (it is \(run.status.rawValue))") }
            if let expiry = run.approvalExpiresAt, expiry <= now { throw ToolError.forbidden("this approval request expired") }
            if run.requesterID == principal.user.id && (!rule.allowSelfApproval || run.risk >= .high) {
                throw ToolError.forbidden("you cannot decide on your own \(run.risk.rawValue)-risk request")
            }
            if !rule.approvers.isEmpty && !rule.approvers.contains(principal.user.username) {
                throw ToolError.forbidden("only \(rule.approvers.joined(separator: ", ")) may decide \(run.risk.rawValue)-risk runs")
            }
            guard !run.decisions.contains(where: { $0.userID == principal.user.id }) else { throw ToolError.forbidden("you already decided on this run") }
            if approve, run.risk >= .high,
               let reason = try dependence(of: principal.user.id, on: run.requesterID, in: organizationID, since: run.createdAt.addingTimeInterval(-independenceWindow.timeInterval), txn: txn) {
                // Recorded (and committed) before the refusal is thrown.
                let entry = AuditEntry(time: now, requestID: requestID, organizationID: organizationID, principal: principal.id,
                                       principalName: principal.user.username, kind: EventKind.approvalRefused.rawValue, tool: run.tool, runID: run.id.uuid,
                                       approver: principal.user.username, outcome: "refused", detail: reason)
                try outbox.record(.approvalRefused(ApprovalRefusal(runID: run.id, tool: run.tool, approverID: principal.user.id, reason: reason)),
                                  organizationID: organizationID, requestID: requestID, time: now, audit: entry, in: txn)
                return .refused(reason)
            }
            run.decisions.append(ApprovalDecision(userID: principal.user.id, username: principal.user.username, approve: approve, comment: comment, time: now))
            let approvers = Set(run.decisions.filter(\.approve).map(\.username))
            let complete = rule.mode == .anyOne || Set(rule.approvers).isSubset(of: approvers)
            if !approve {
                run.status = .rejected
            } else if complete {
                run.status = .running
            }
            run.updatedAt = now
            try txn.put(runs, (organizationID, runID), run)
            if run.status != .pendingApproval { _ = try txn.delete(pending, (organizationID, runID)) }
            let entry = AuditEntry(time: now, requestID: requestID, organizationID: organizationID, principal: principal.id,
                                   principalName: principal.user.username, kind: EventKind.approvalDecided.rawValue, tool: run.tool, runID: run.id.uuid,
                                   approver: principal.user.username, outcome: approve ? "approved" : "rejected", detail: comment)
            try outbox.record(.approvalDecided(ApprovalDecisionEvent(run: RunEvent(run), approverID: principal.user.id, approved: approve)),
                              organizationID: organizationID, requestID: requestID, time: now, audit: entry, in: txn)
            if run.status == .rejected {
                try record(finished: run, approver: principal.user.username, detail: comment, in: txn)
            }
            if approve && complete {
                // Runs in the background, durably: the job survives a restart.
                let approver = run.decisions.filter(\.approve).map(\.username).joined(separator: ", ")
                try jobs.enqueue(JobRequest(kind: Self.executeJob, payload: JSONAny(encoding: ExecutePayload(organizationID: organizationID, runID: run.id, approver: approver)),
                                            idempotencyKey: Self.executeJob + ":" + run.id.description), in: txn)
            }
            return .decided(run, execute: approve && complete)
        }
        switch outcome {
        case let .refused(reason): throw ToolError.forbidden(reason)
        case let .decided(run, _): return run
        }
    }

    /// Why `approverID` is not independent of `requesterID` for the two-person rule, or `nil`:
    /// the requester created the approver's account, reset its password, or granted their role
    /// in the organization, at or after `since`.
    @available(*, noasync)
    func dependence(of approverID: UUID, on requesterID: UUID, in organizationID: UUID, since: Date, txn: borrowing WriteTransaction) throws -> String? {
        if let approver = try txn.get(accounts.users.table, approverID) {
            if approver.createdBy == requesterID, approver.createdAt >= since {
                return "the two-person rule: the requester created your account (\(approver.createdAt.formatted(.iso8601))), so you cannot approve their high-risk runs"
            }
            if approver.passwordResetBy == requesterID, let resetAt = approver.passwordResetAt, resetAt >= since {
                return "the two-person rule: the requester reset your password (\(resetAt.formatted(.iso8601))), so you cannot approve their high-risk runs"
            }
        }
        if let membership = try organizations.membership(of: approverID, in: organizationID, txn: txn),
           membership.grantedBy == requesterID, let grantedAt = membership.grantedAt, grantedAt >= since {
            return "the two-person rule: the requester gave you your role here (\(grantedAt.formatted(.iso8601))), so you cannot approve their high-risk runs"
        }
        return nil
    }

    /// Runs an approved run (the `run.execute` job), if its requester still may and the tool is
    /// still enabled. A run the executor was already started on (an earlier attempt cut off by
    /// a crash) is marked interrupted, never started twice.
    func executeApproved(runID: TimeOrderedID, in organizationID: UUID, approver: String, attempt: Int) async {
        guard let found = try? run(runID, in: organizationID), found.status == .running else { return }
        var run = found
        if run.startedAt != nil {
            run.status = .interrupted
            run.updatedAt = clock.now()
            await finish(run, approver: approver, detail: "the portal stopped while this run was executing")
            return
        }
        do {
            guard let organization = try organizations.organization(run.organizationID),
                  let tool = try catalog.tool(named: run.tool, in: run.organizationID)
            else { throw ToolError.notFound(run.tool) }
            // The requester as they stand now: a role lost since the request stops the run.
            guard let requester = try accounts.user(id: run.requesterID),
                  Principal(user: requester, organizationID: run.organizationID, role: try organizations.role(of: requester.id, in: run.organizationID),
                            sessionKey: nil, csrfToken: nil).has(tool.requiredPermission)
            else { throw ToolError.forbidden("the requester no longer has \(tool.requiredPermission.rawValue)") }
            run.startedAt = clock.now()
            let started = run
            try await environment.write { [self] txn in try txn.put(runs, (started.organizationID, started.id), started) }
            _ = await execute(run, tool: tool, organization: organization, approver: approver)
        } catch {
            run.status = .failed
            run.output = ToolOutput(succeeded: false, text: "", json: nil, error: "\(error)", exitCode: nil, truncated: false)
            run.updatedAt = clock.now()
            await finish(run, approver: approver, detail: "\(error)")
        }
    }

    /// Marks pending runs past their deadline `expired`. Returns how many.
    @discardableResult
    public func expireOverdue(now: Date? = nil) async throws -> Int {
        let now = now ?? clock.now()
        let overdue = try environment.read { txn in
            var keys: [(UUID, TimeOrderedID)] = []
            try txn.forEach(pending) { (key, expiry) throws(KVError) in
                if expiry <= now { keys.append(key) }
                return true
            }
            return keys
        }
        var expired = 0
        for (organizationID, runID) in overdue {
            let didExpire = try await environment.write { [self] txn -> Bool in
                _ = try txn.delete(pending, (organizationID, runID))
                guard var run = try txn.get(runs, (organizationID, runID)), run.status == .pendingApproval else { return false }
                run.status = .expired
                run.updatedAt = now
                try record(finished: run, approver: nil, detail: "no decision before \(run.approvalExpiresAt.map { "\($0)" } ?? "the deadline")", in: txn)
                return true
            }
            if didExpire { expired += 1 }
        }
        return expired
    }

    /// At start-up: runs left `running` by a stop are marked `interrupted` (they are not re-run:
    /// whether they took effect is unknown), except approved runs whose job has not started
    /// them yet (the job runs them).
    func markInterrupted() async throws {
        let stale = try environment.read { txn in
            var found: [ToolRun] = []
            try txn.forEach(runs) { (_, run) throws(KVError) in
                if run.status == .running { found.append(run) }
                return true
            }
            return found
        }.filter { run in
            guard run.startedAt == nil, let job = try? jobs.job(idempotencyKey: Self.executeJob + ":" + run.id.description) else { return true }
            return job.state.isFinal
        }
        for var run in stale {
            run.status = .interrupted
            run.updatedAt = clock.now()
            await finish(run, approver: nil, detail: "the portal stopped while this run was executing")
        }
    }

    // MARK: Reading

    public func run(_ id: TimeOrderedID, in organizationID: UUID) throws -> ToolRun? {
        try environment.read { txn in try txn.get(runs, (organizationID, id)) }
    }

    /// Runs waiting for a decision in the organization, oldest first.
    public func pendingApprovals(in organizationID: UUID) throws -> [ToolRun] {
        try environment.read { txn in
            var result: [ToolRun] = []
            try txn.forEach(pending, prefix: CompositeKey<UUID, TimeOrderedID>.prefix(organizationID)) { (key, _) throws(KVError) in
                if let run = try txn.get(runs, key), run.status == .pendingApproval { result.append(run) }
                return true
            }
            return result
        }
    }

    /// What to show in the activity feed.
    public struct ActivityFilter: Sendable {
        public var tool: String?
        public var status: RunStatus?
        public var requester: String?
        public var since: Date?
        public var until: Date?

        public init(tool: String? = nil, status: RunStatus? = nil, requester: String? = nil, since: Date? = nil, until: Date? = nil) {
            self.tool = tool
            self.status = status
            self.requester = requester
            self.since = since
            self.until = until
        }

        func matches(_ run: ToolRun) -> Bool {
            (tool.map { run.tool == $0 } ?? true) && (status.map { run.status == $0 } ?? true)
                && (requester.map { run.requesterName == $0 } ?? true) && (since.map { run.createdAt >= $0 } ?? true)
                && (until.map { run.createdAt < $0 } ?? true)
        }
    }

    /// The organization's runs, newest first, matching `filter`; `before` continues a page.
    public func activity(in organizationID: UUID, filter: ActivityFilter, limit: Int, before: TimeOrderedID? = nil) throws -> [ToolRun] {
        try environment.read { txn in
            var result: [ToolRun] = []
            var scanned = 0
            try txn.forEach(runs, from: (organizationID, .lowest), to: (organizationID, before ?? .highest), direction: .reverse) { (_, run) throws(KVError) in
                scanned += 1
                if filter.matches(run) { result.append(run) }
                return result.count < limit && scanned < 100_000
            }
            return result
        }
    }

    /// Waits until the run is final (finished, rejected, expired) or `timeout` passes;
    /// returns it as it then stands.
    public func waitUntilFinal(_ id: TimeOrderedID, in organizationID: UUID, timeout: Duration) async throws -> ToolRun? {
        guard try run(id, in: organizationID) != nil else { return nil }
        // Any news of the run (a rejection is told as `approval.decided`): look again.
        await notifications.wait(forRun: id.description, timeout: timeout) { [self] in (try? run(id, in: organizationID))?.status.isFinal ?? true }
        return try run(id, in: organizationID)
    }

    // MARK: Helpers

    /// The audit entry of a run's end (succeeded, failed, rejected, expired, interrupted), in
    /// the requester's name, at the run's `updatedAt`.
    static func finishedEntry(_ run: ToolRun, approver: String?, detail: String) -> AuditEntry {
        AuditEntry(time: run.updatedAt, requestID: run.requestID, organizationID: run.organizationID, principal: Principal.id(user: run.requesterID, apiKey: run.apiKeyID),
                   principalName: run.requesterName, kind: EventKind(finishedRun: run.status).rawValue, tool: run.tool, runID: run.id.uuid, arguments: run.redactedInput,
                   approver: approver, outcome: run.status.rawValue, durationMilliseconds: run.durationMilliseconds, outputDigest: run.output?.digest, detail: detail)
    }

    /// The input with the values of `writeOnly` fields replaced.
    static func redact(_ input: JSONAny, schema: JSONAny) -> JSONAny {
        guard var object = input.object, let properties = schema["properties"]?.object else { return input }
        for (name, property) in properties where object[name] != nil {
            object[name] = property["writeOnly"] == .bool(true) ? .string("[redacted]") : redact(object[name]!, schema: property)
        }
        return .object(object)
    }
}
