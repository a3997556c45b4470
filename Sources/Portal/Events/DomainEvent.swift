public import FoundationEssentials
public import KV

/// The closed set of things that happen in the portal, each with a stable dotted name.
/// Names are part of the API (webhook subscriptions, the event stream, audit filters): a name
/// is never reused for something else, and a renamed one keeps its old spelling readable
/// through `init(stored:outcome:)`.
public enum EventKind: String, Codable, Sendable, CaseIterable {
    // Tool runs (the audit's `outcome` is the run's status).
    case runRequested = "run.requested"
    case runRefused = "run.refused"
    case runSucceeded = "run.succeeded"
    case runFailed = "run.failed"
    case runRejected = "run.rejected"
    case runExpired = "run.expired"
    case runInterrupted = "run.interrupted"
    case runCancelled = "run.cancelled"
    // Approvals.
    case approvalRequested = "approval.requested"
    case approvalDecided = "approval.decided"
    case approvalRefused = "approval.refused"
    case approvalPolicyChanged = "approval.policy-changed"
    // Conversations.
    case chatTurn = "chat.turn"
    // Access and administration.
    case signInSucceeded = "sign-in.succeeded"
    case signInFailed = "sign-in.failed"
    case signInThrottled = "sign-in.throttled"
    case signOut = "session.ended"
    case roleChanged = "role.changed"
    case keyCreated = "api-key.created"
    case keyRevoked = "api-key.revoked"
    case userCreated = "user.created"
    case organizationCreated = "organization.created"
    case organizationUpdated = "organization.updated"
    case singleSignOnConfigured = "sso.configured"
    case packInstalled = "tool-pack.installed"
    case packEnabled = "tool-pack.enabled"
    case packDisabled = "tool-pack.disabled"
    case packAvailabilityChanged = "tool-pack.availability-changed"
    /// An external MCP server was connected, or where it is or its credential changed.
    case mcpServerRegistered = "mcp-server.registered"
    /// An MCP server's tools differ from those an administrator reviewed.
    case mcpServerToolsChanged = "mcp-server.tools-changed"
    case assistantConfigured = "assistant.configured"
    case embeddingsChanged = "embeddings.changed"
    case passwordChanged = "password.changed"
    case passwordChangeFailed = "password.change-failed"
    case passwordReset = "password.reset"
    case secretChanged = "organization.secret-changed"
    // Webhooks.
    case webhookCreated = "webhook.created"
    case webhookUpdated = "webhook.updated"
    case webhookDeleted = "webhook.deleted"
    case webhookSecretRotated = "webhook.secret-rotated"
    /// The portal turned a subscription off (410 Gone, or a day of failures).
    case webhookDisabled = "webhook.disabled"
    // Workflows.
    case workflowSaved = "workflow.saved"
    case workflowDeleted = "workflow.deleted"
    case workflowRunStarted = "workflow-run.started"
    case workflowRunQueued = "workflow-run.queued"
    case workflowStepStarted = "workflow-run.step-started"
    case workflowStepFinished = "workflow-run.step-finished"
    case workflowApprovalRequested = "workflow-run.approval-requested"
    case workflowApprovalDecided = "workflow-run.approval-decided"
    case workflowRunPaused = "workflow-run.paused"
    case workflowRunResumed = "workflow-run.resumed"
    case workflowRunSucceeded = "workflow-run.succeeded"
    case workflowRunFailed = "workflow-run.failed"
    case workflowRunCancelled = "workflow-run.cancelled"
    /// A run stopped because a step that is not safe to repeat had started when the portal stopped.
    case workflowRunNeedsAttention = "workflow-run.needs-attention"
    // Incidents.
    case incidentOpened = "incident.opened"
    case incidentUpdated = "incident.updated"
    case incidentStateChanged = "incident.state-changed"
    case incidentResolved = "incident.resolved"
    case incidentCommented = "incident.commented"
    /// An SLA clock reached its warning share of the target.
    case incidentSLAWarning = "incident.sla-warning"
    case incidentSLABreached = "incident.sla-breached"
    // Configuration items.
    case assetSaved = "asset.saved"
    case assetRemoved = "asset.removed"
    /// A relation between two items set or removed.
    case assetRelated = "asset.related"
    case assetImported = "asset.imported"
    // Changes.
    case changeOpened = "change.opened"
    case changeUpdated = "change.updated"
    case changeStateChanged = "change.state-changed"
    /// A CAB member approved or rejected a change (`detail` says which, and "authorized" once the CAB's policy is met).
    case changeDecided = "change.decided"

    /// The kind of an audit entry written by any version: today's names, and those entries
    /// written before typed events carried (`tool.run.finished` by its outcome, `sign-out`).
    public init?(stored: String, outcome: String) {
        switch stored {
        case "tool.run.requested": self = .runRequested
        case "tool.run.refused": self = .runRefused
        case "tool.run.finished": self.init(finishedRun: RunStatus(rawValue: outcome) ?? .failed)
        case "approval.policy.changed": self = .approvalPolicyChanged
        case "sign-out": self = .signOut
        default: self.init(rawValue: stored)
        }
    }

    /// The kind of a run's end in `status`.
    public init(finishedRun status: RunStatus) {
        self = switch status {
        case .succeeded: .runSucceeded
        case .rejected: .runRejected
        case .expired: .runExpired
        case .interrupted: .runInterrupted
        case .cancelled: .runCancelled
        case .failed, .running, .pendingApproval: .runFailed
        }
    }

    /// Whether it records a refusal (audited with outcome `refused`).
    public var isRefusal: Bool { [.signInFailed, .signInThrottled, .passwordChangeFailed, .runRefused, .approvalRefused].contains(self) }

    /// Whether it can take someone's access away, so that open event streams must check
    /// their principal again at once.
    public var mayEndAccess: Bool { [.signOut, .roleChanged, .keyRevoked, .passwordChanged, .passwordReset].contains(self) }
}

/// A tool run as an event tells it.
public struct RunEvent: Codable, Sendable, Equatable {
    public let runID: TimeOrderedID
    public let tool: String
    public let risk: RiskLevel
    public let status: RunStatus
    public let requesterID: UUID
    public let entryPoint: EntryPoint
    /// Who decided on it so far, in order.
    public let deciders: [UUID]

    public init(_ run: ToolRun) {
        runID = run.id
        tool = run.tool
        risk = run.risk
        status = run.status
        requesterID = run.requesterID
        entryPoint = run.entryPoint
        deciders = run.decisions.map(\.userID)
    }
}

/// A request refused before it became a run (unknown to the approvers).
public struct RunRefusal: Codable, Sendable, Equatable {
    public let tool: String
    public let requesterID: UUID
    public let reason: String
}

/// One person's decision on a run.
public struct ApprovalDecisionEvent: Codable, Sendable, Equatable {
    public let run: RunEvent
    public let approverID: UUID
    public let approved: Bool
}

/// A decision the portal refused (the two-person rule).
public struct ApprovalRefusal: Codable, Sendable, Equatable {
    public let runID: TimeOrderedID
    public let tool: String
    public let approverID: UUID
    public let reason: String
}

/// A turn stored in a conversation.
public struct ChatTurnEvent: Codable, Sendable, Equatable {
    public let sessionID: TimeOrderedID
    public let turnID: TimeOrderedID
    public let ownerID: UUID
    public let role: ChatTurn.Role
    public let runID: String?
    public let runStatus: String?
}

/// Something that happened, with its typed payload. Written by the change that caused it,
/// in that change's transaction (`Outbox.record`); read back from the outbox by consumers.
public enum DomainEvent: Sendable, Equatable {
    case runRequested(RunEvent)
    case runRefused(RunRefusal)
    /// A run reached a final status (its kind follows the status).
    case runFinished(RunEvent)
    case approvalRequested(RunEvent)
    case approvalDecided(ApprovalDecisionEvent)
    case approvalRefused(ApprovalRefusal)
    case approvalPolicyChanged(ApprovalPolicy)
    case chatTurn(ChatTurnEvent)
    /// A workflow saved, or something that happened in one of its runs.
    case workflow(WorkflowEvent)
    /// An incident opened, changed, commented on, or its SLA warned or breached.
    case incident(IncidentEvent)
    /// A configuration item saved, removed or related, or an import.
    case asset(AssetEvent)
    /// A change opened, updated, moved or decided on by the CAB.
    case change(ChangeEvent)
    /// Access and administration: sign-ins, roles, keys, packs, settings.
    case security(SecurityEvent)

    public var kind: EventKind {
        switch self {
        case .runRequested: .runRequested
        case .runRefused: .runRefused
        case let .runFinished(run): EventKind(finishedRun: run.status)
        case .approvalRequested: .approvalRequested
        case .approvalDecided: .approvalDecided
        case .approvalRefused: .approvalRefused
        case .approvalPolicyChanged: .approvalPolicyChanged
        case .chatTurn: .chatTurn
        case let .workflow(event): event.kind
        case let .incident(event): event.kind
        case let .asset(event): event.kind
        case let .change(event): event.kind
        case let .security(event): event.kind
        }
    }

    /// The kinds carried by `.workflow` events.
    public static let workflowKinds: Set<EventKind> = Set(EventKind.allCases.filter { $0.rawValue.hasPrefix("workflow") })

    /// The kinds carried by `.incident` events.
    public static let incidentKinds: Set<EventKind> = Set(EventKind.allCases.filter { $0.rawValue.hasPrefix("incident.") })

    /// The kinds carried by `.asset` events.
    public static let assetKinds: Set<EventKind> = Set(EventKind.allCases.filter { $0.rawValue.hasPrefix("asset.") })

    /// The kinds carried by `.change` events.
    public static let changeKinds: Set<EventKind> = Set(EventKind.allCases.filter { $0.rawValue.hasPrefix("change.") })

    /// The kinds carried by `.security` events: every kind that is not about runs, approvals,
    /// conversations or workflows.
    public static let securityKinds: Set<EventKind> = Set(EventKind.allCases).subtracting([
        .runRequested, .runRefused, .runSucceeded, .runFailed, .runRejected, .runExpired, .runInterrupted, .runCancelled,
        .approvalRequested, .approvalDecided, .approvalRefused, .approvalPolicyChanged, .chatTurn,
    ]).subtracting(workflowKinds).subtracting(incidentKinds).subtracting(assetKinds).subtracting(changeKinds)

    /// The run it is about, if any.
    public var run: RunEvent? {
        switch self {
        case let .runRequested(run), let .runFinished(run), let .approvalRequested(run): run
        case let .approvalDecided(decision): decision.run
        default: nil
        }
    }
}

extension DomainEvent: Codable {
    private enum CodingKeys: String, CodingKey { case kind, payload }

    /// `{"kind": "<dotted name>", "payload": {...}}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case let .runRequested(run), let .runFinished(run), let .approvalRequested(run): try container.encode(run, forKey: .payload)
        case let .runRefused(refusal): try container.encode(refusal, forKey: .payload)
        case let .approvalDecided(decision): try container.encode(decision, forKey: .payload)
        case let .approvalRefused(refusal): try container.encode(refusal, forKey: .payload)
        case let .approvalPolicyChanged(policy): try container.encode(policy, forKey: .payload)
        case let .chatTurn(turn): try container.encode(turn, forKey: .payload)
        case let .workflow(event): try container.encode(event, forKey: .payload)
        case let .incident(event): try container.encode(event, forKey: .payload)
        case let .asset(event): try container.encode(event, forKey: .payload)
        case let .change(event): try container.encode(event, forKey: .payload)
        case let .security(event): try container.encode(event, forKey: .payload)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(EventKind.self, forKey: .kind)
        switch kind {
        case .runRequested: self = .runRequested(try container.decode(RunEvent.self, forKey: .payload))
        case .runRefused: self = .runRefused(try container.decode(RunRefusal.self, forKey: .payload))
        case .runSucceeded, .runFailed, .runRejected, .runExpired, .runInterrupted, .runCancelled: self = .runFinished(try container.decode(RunEvent.self, forKey: .payload))
        case .approvalRequested: self = .approvalRequested(try container.decode(RunEvent.self, forKey: .payload))
        case .approvalDecided: self = .approvalDecided(try container.decode(ApprovalDecisionEvent.self, forKey: .payload))
        case .approvalRefused: self = .approvalRefused(try container.decode(ApprovalRefusal.self, forKey: .payload))
        case .approvalPolicyChanged: self = .approvalPolicyChanged(try container.decode(ApprovalPolicy.self, forKey: .payload))
        case .chatTurn: self = .chatTurn(try container.decode(ChatTurnEvent.self, forKey: .payload))
        case _ where Self.workflowKinds.contains(kind): self = .workflow(try container.decode(WorkflowEvent.self, forKey: .payload))
        case _ where Self.incidentKinds.contains(kind): self = .incident(try container.decode(IncidentEvent.self, forKey: .payload))
        case _ where Self.assetKinds.contains(kind): self = .asset(try container.decode(AssetEvent.self, forKey: .payload))
        case _ where Self.changeKinds.contains(kind): self = .change(try container.decode(ChangeEvent.self, forKey: .payload))
        default: self = .security(try container.decode(SecurityEvent.self, forKey: .payload))
        }
    }
}
