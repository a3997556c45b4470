public import FoundationEssentials
import KV
import Logging
import Synchronization

/// Workflows: versioned definitions and their durable runs.
///
/// Guarantees: every save is a new immutable version (validated; `problems()` lists what is
/// wrong); a run is pinned to the version it started on. Each change of a run — a step
/// started or finished, a decision, a pause — is one transaction holding the run's new
/// state, its log entry and its audited event, so after a crash the stored state is one the
/// run really passed through. At start-up unfinished runs go on: timers and waits from their
/// due times; a tool step that had been handed to the tool and has no recorded result is
/// started again only when it is safe to repeat (a read-risk tool), otherwise the run stops
/// in `needs-attention` with the reason; a tool step never handed over starts again. Tool
/// steps run through `ToolRuns` (entry point `workflow`) as the person who started the run,
/// so permissions, approvals and the audit apply to each one.
public final class Workflows: Sendable {
    let environment: Environment
    let summaries: Table<CompositeKey<UUID, String>, JSONValue<WorkflowSummary>>
    let versions: Table<CompositeKey3<UUID, String, UInt64>, JSONValue<WorkflowVersion>>
    let runs: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<WorkflowRun>>
    let log: Table<CompositeKey<TimeOrderedID, UInt64>, JSONValue<WorkflowLogEntry>>
    /// Unfinished runs by workflow (queued ones too), for concurrency limits and start-up.
    let active: Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<WorkflowRun.Status>>
    /// Tool runs a step waits for (approval): (organization, tool run) → the step.
    let toolWaits: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<StepReference>>
    /// Steps waiting for an event: (event name, run, step) → organization.
    let eventWaits: Table<CompositeKey3<String, TimeOrderedID, String>, JSONValue<UUID>>
    /// Incoming webhooks: id → webhook; (organization, workflow) → id; message ids seen in the
    /// replay window (expiring).
    let webhooks: Table<Key<UUID>, JSONValue<WorkflowWebhook>>
    let webhookIDs: Table<CompositeKey<UUID, String>, JSONValue<UUID>>
    let webhookDeliveries: Table<StringKey, JSONValue<WorkflowWebhookDelivery>>
    let secrets: Secrets
    let toolRuns: ToolRuns
    let organizations: Organizations
    let accounts: Accounts
    let outbox: Outbox
    let jobs: Jobs
    let notifications: Notifications
    let clock: any WallClock
    /// Where HTTP steps may send requests (the webhooks' rules) and the client they use.
    let outboundTargets: WebhookTargets
    let http: OutboundHTTP
    let logger = Logger(label: "portal.workflows")
    private let definitionCache = Mutex<[String: WorkflowDefinition]>([:])
    let triggerCache = Mutex<[UUID: [(workflow: String, trigger: WorkflowTrigger)]]?>(nil)

    static let wakeJob = "workflow.wake"
    static let scheduleJob = "workflow.scheduled"
    /// How deep sub-workflows may nest.
    static let maxNesting = 5
    static let maxItems = 1000

    struct StepReference: Codable, Sendable {
        let runID: TimeOrderedID
        let node: String
        let attempt: Int
    }

    struct WakePayload: Codable, Sendable {
        let organizationID: UUID
        let runID: TimeOrderedID
    }

    struct SchedulePayload: Codable, Sendable {
        let organizationID: UUID
        let workflow: String
        let trigger: Int
    }

    init(environment: Environment, toolRuns: ToolRuns, organizations: Organizations, accounts: Accounts, outbox: Outbox, jobs: Jobs,
         notifications: Notifications, clock: any WallClock, secrets: Secrets, outboundTargets: WebhookTargets, http: OutboundHTTP) throws {
        self.environment = environment
        self.toolRuns = toolRuns
        self.organizations = organizations
        self.accounts = accounts
        self.outbox = outbox
        self.jobs = jobs
        self.notifications = notifications
        self.clock = clock
        self.secrets = secrets
        self.outboundTargets = outboundTargets
        self.http = http
        summaries = try environment.table("workflows", key: CompositeKey<UUID, String>.self, value: JSONValue<WorkflowSummary>.self)
        versions = try environment.table("workflow_versions", key: CompositeKey3<UUID, String, UInt64>.self, value: JSONValue<WorkflowVersion>.self)
        runs = try environment.table("workflow_runs", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<WorkflowRun>.self)
        log = try environment.table("workflow_run_log", key: CompositeKey<TimeOrderedID, UInt64>.self, value: JSONValue<WorkflowLogEntry>.self)
        active = try environment.table("workflow_runs_active", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<WorkflowRun.Status>.self)
        toolWaits = try environment.table("workflow_tool_waits", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<StepReference>.self)
        eventWaits = try environment.table("workflow_event_waits", key: CompositeKey3<String, TimeOrderedID, String>.self, value: JSONValue<UUID>.self)
        webhooks = try environment.table("workflow_webhooks", key: Key<UUID>.self, value: JSONValue<WorkflowWebhook>.self)
        webhookIDs = try environment.table("workflow_webhook_ids", key: CompositeKey<UUID, String>.self, value: JSONValue<UUID>.self)
        webhookDeliveries = try environment.expiringTable("workflow_webhook_deliveries", key: StringKey.self, value: JSONValue<WorkflowWebhookDelivery>.self)
        jobs.register(JobKind(Self.wakeJob, concurrency: 8, maxAttempts: 5) { [self] context in
            let payload = try context.payload(as: WakePayload.self)
            try await advance(payload.runID, in: payload.organizationID)
        })
        jobs.register(JobKind(Self.scheduleJob, concurrency: 2, maxAttempts: 3) { [self] context in
            let payload = try context.payload(as: SchedulePayload.self)
            try await startScheduled(payload)
        })
    }

    /// 1 to 64 lower-case letters, digits and `-`, starting with a letter.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.utf8.count <= 64 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    // MARK: Definitions

    /// Saves `definition` as the workflow's next version (the first creates it). Needs
    /// `workflows:manage`. Throws `invalidInput` listing every problem; with `basedOn` (the
    /// version the editor started from, 0 for a new workflow), `conflict` when another
    /// version was saved meanwhile.
    @discardableResult
    public func save(_ definition: WorkflowDefinition, note: String = "", basedOn: Int? = nil, by principal: Principal) async throws -> WorkflowVersion {
        let organizationID = try Self.organization(of: principal, needing: .workflowsManage)
        let problems = definition.problems()
        guard problems.isEmpty else { throw PortalError.invalidInput(InputError(problems: problems.map(\.inputProblem))) }
        guard note.count <= 500 else { throw PortalError.unprocessable("a version note has at most 500 characters") }
        let now = clock.now()
        let saved = try await environment.write { [self] txn -> WorkflowVersion in
            var summary = try txn.get(summaries, (organizationID, definition.name))
            if let basedOn, basedOn != (summary?.latestVersion ?? 0) {
                throw PortalError.conflict("'\(definition.name)' was saved as version \(summary?.latestVersion ?? 0) since version \(basedOn) you edited: reload it")
            }
            let number = (summary?.latestVersion ?? 0) + 1
            let version = WorkflowVersion(version: number, definition: definition, savedBy: principal.user.id, savedByName: principal.user.username, savedAt: now, note: note)
            if summary == nil {
                summary = WorkflowSummary(name: definition.name, title: definition.title, description: definition.description, latestVersion: number,
                                          updatedAt: now, updatedByName: principal.user.username, ownerID: principal.user.id)
            } else {
                summary!.title = definition.title
                summary!.description = definition.description
                summary!.latestVersion = number
                summary!.updatedAt = now
                summary!.updatedByName = principal.user.username
                summary!.ownerID = principal.user.id
            }
            try txn.put(summaries, (organizationID, definition.name), summary!)
            try txn.put(versions, (organizationID, definition.name, UInt64(number)), version)
            let event = WorkflowEvent(kind: .workflowSaved, workflow: definition.name, version: number, runID: nil, node: nil, status: "saved",
                                      actorID: principal.user.id, detail: note)
            try outbox.record(.workflow(event), organizationID: organizationID, time: now, audit: Self.auditEntry(event, organizationID: organizationID, time: now,
                                                                                                                     actor: principal), in: txn)
            return version
        }
        triggerCache.withLock { $0 = nil }
        try await scheduleTriggers(of: definition, in: organizationID)
        return saved
    }

    /// The organization's workflows, by name.
    public func list(in organizationID: UUID) throws -> [WorkflowSummary] {
        try environment.read { txn in
            var found: [WorkflowSummary] = []
            try txn.forEach(summaries, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, summary) throws(KVError) in
                found.append(summary)
                return true
            }
            return found
        }
    }

    public func summary(_ name: String, in organizationID: UUID) throws -> WorkflowSummary? {
        try environment.read { txn in try txn.get(summaries, (organizationID, name)) }
    }

    /// A version (`nil`: the latest).
    public func version(_ name: String, _ number: Int? = nil, in organizationID: UUID) throws -> WorkflowVersion? {
        try environment.read { txn in try version(name, number, in: organizationID, txn: txn) }
    }

    func version(_ name: String, _ number: Int?, in organizationID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> WorkflowVersion? {
        guard let number = try number ?? txn.get(summaries, (organizationID, name))?.latestVersion, number > 0 else { return nil }
        return try txn.get(versions, (organizationID, name, UInt64(number)))
    }

    /// Every version, newest first.
    public func versions(_ name: String, in organizationID: UUID) throws -> [WorkflowVersion] {
        try environment.read { txn in
            var found: [WorkflowVersion] = []
            try txn.forEach(versions, prefix: CompositeKey3<UUID, String, UInt64>.prefix(organizationID, name), direction: .reverse) { (_, version) throws(KVError) in
                found.append(version)
                return true
            }
            return found
        }
    }

    /// Deletes a workflow and its versions; refused while it has unfinished runs.
    public func delete(_ name: String, by principal: Principal) async throws {
        let organizationID = try Self.organization(of: principal, needing: .workflowsManage)
        let now = clock.now()
        let definition = try await environment.write { [self] txn -> WorkflowDefinition in
            guard let summary = try txn.get(summaries, (organizationID, name)), let latest = try version(name, nil, in: organizationID, txn: txn) else {
                throw PortalError.notFound("workflow '\(name)'")
            }
            var unfinished = 0
            try txn.forEach(active, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, name)) { (_, _) throws(KVError) in unfinished += 1; return false }
            guard unfinished == 0 else { throw PortalError.conflict("'\(name)' has unfinished runs: cancel them first") }
            var numbers: [UInt64] = []
            try txn.forEach(versions, prefix: CompositeKey3<UUID, String, UInt64>.prefix(organizationID, name)) { (key, _) throws(KVError) in numbers.append(key.2); return true }
            for number in numbers { _ = try txn.delete(versions, (organizationID, name, number)) }
            _ = try txn.delete(summaries, (organizationID, name))
            _ = try deleteWebhook(of: name, in: organizationID, txn: txn)
            let event = WorkflowEvent(kind: .workflowDeleted, workflow: name, version: summary.latestVersion, runID: nil, node: nil, status: "deleted",
                                      actorID: principal.user.id, detail: "")
            try outbox.record(.workflow(event), organizationID: organizationID, time: now,
                              audit: Self.auditEntry(event, organizationID: organizationID, time: now, actor: principal), in: txn)
            return latest.definition
        }
        triggerCache.withLock { $0 = nil }
        var emptied = definition
        emptied.triggers = []
        try await scheduleTriggers(of: emptied, in: organizationID, previous: definition.triggers.count)
    }

    /// Keeps one timer per schedule trigger of the latest version; cancels those of triggers
    /// that are gone.
    func scheduleTriggers(of definition: WorkflowDefinition, in organizationID: UUID, previous: Int = WorkflowDefinition.limits.triggers) async throws {
        for (index, trigger) in definition.triggers.enumerated() where trigger.type == .schedule && trigger.isEnabled {
            let payload = try JSONAny(encoding: SchedulePayload(organizationID: organizationID, workflow: definition.name, trigger: index))
            try await jobs.schedule(Self.timerName(organizationID, definition.name, index), kind: Self.scheduleJob,
                                    .cron(expression: trigger.cron ?? "", timeZone: trigger.timeZone ?? "UTC"), payload: payload)
        }
        for index in 0..<max(previous, definition.triggers.count) where index >= definition.triggers.count || definition.triggers[index].type != .schedule || !definition.triggers[index].isEnabled {
            if let job = try jobs.job(idempotencyKey: "timer:" + Self.timerName(organizationID, definition.name, index)), !job.state.isFinal {
                try await jobs.cancel(job.id)
            }
        }
    }

    static func timerName(_ organizationID: UUID, _ workflow: String, _ index: Int) -> String { "workflow:\(organizationID):\(workflow):\(index)" }

    /// The definition of a version, read once and kept (versions never change).
    func definition(_ name: String, _ version: Int, in organizationID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> WorkflowDefinition {
        let key = "\(organizationID)/\(name)/\(version)"
        if let cached = definitionCache.withLock({ $0[key] }) { return cached }
        guard let stored = try txn.get(versions, (organizationID, name, UInt64(version))) else {
            throw PortalError.notFound("version \(version) of workflow '\(name)'")
        }
        definitionCache.withLock { $0[key] = stored.definition }
        return stored.definition
    }

    // MARK: Helpers

    static func organization(of principal: Principal, needing permission: Permission) throws -> UUID {
        guard let organizationID = principal.organizationID else { throw PortalError.forbidden("choose an organization first") }
        guard principal.has(permission) else { throw PortalError.forbidden("this needs the \(permission.rawValue) permission") }
        return organizationID
    }

    static func auditEntry(_ event: WorkflowEvent, organizationID: UUID, time: Date, actor: Principal?) -> AuditEntry {
        AuditEntry(time: time, organizationID: organizationID, principal: actor?.id, principalName: actor?.user.username, kind: event.kind.rawValue,
                   runID: event.runID?.uuid, outcome: event.status, detail: [event.workflow + " v\(event.version)", event.node.map { "step \($0)" }, event.detail.isEmpty ? nil : event.detail]
                    .compactMap { $0 }.joined(separator: ": "))
    }
}

extension WorkflowProblem {
    var inputProblem: InputProblem {
        InputProblem(field: [node.map { "nodes.\($0)" }, field].compactMap { $0 }.joined(separator: ".").nonEmpty ?? "definition", message: message)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
