public import FoundationEssentials
public import KV

/// One run of a workflow version: its state as the engine last recorded it. Every change is
/// written with an entry of the run's log (`WorkflowLogEntry`) and its audited event, in one
/// transaction.
public struct WorkflowRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Waiting for a free place under the workflow's concurrency limit.
        case queued
        case running
        /// Starts no further step until resumed (steps under way finish).
        case paused
        case succeeded, failed, cancelled
        /// Stopped: a step that is not safe to repeat had started when the portal stopped, so
        /// whether it took effect is unknown. Someone must look, then retry or cancel.
        case needsAttention = "needs-attention"

        public var isFinal: Bool { [.succeeded, .failed, .cancelled].contains(self) }
    }

    /// What started it.
    public enum Trigger: String, Codable, Sendable, CaseIterable {
        case manual, api, schedule, event, webhook, workflow, rerun, mcp, chat
    }

    /// The step of another run that started it (sub-workflow, for-each, while).
    public struct Parent: Codable, Sendable, Equatable {
        public let runID: TimeOrderedID
        public let node: String
        /// The item (for-each) or round (while) it runs for.
        public let index: Int
    }

    public var schemaVersion = 1
    public let id: TimeOrderedID
    public let organizationID: UUID
    public let workflow: String
    public let version: Int
    public var status: Status
    public let inputs: JSONAny
    public var variables: [String: JSONAny]
    public var steps: [String: StepRun]
    /// Whose run it is: tool steps run with this person's role, as it is when they start.
    public let starterID: UUID
    public let starterName: String
    public let trigger: Trigger
    public let parent: Parent?
    /// The run it re-runs, for `rerun`.
    public let rerunOf: TimeOrderedID?
    public let createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    /// Why it failed or needs attention.
    public var error: String?
    public var outputs: JSONAny?
    /// How many log entries it has.
    public var logLength: Int
}

/// A step's state in a run. A step with no entry has not been reached.
public struct StepRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        case running
        /// For a person, a time, an event, other runs, or a tool run's approval.
        case waiting
        /// Failed; tries again at `dueAt`.
        case retrying
        case succeeded, failed, skipped, cancelled

        /// Whether the step is decided (its outgoing edges are taken or not).
        public var isDone: Bool { [.succeeded, .failed, .skipped].contains(self) }
    }

    public var status: Status
    public var attempts: Int
    /// The port it left by, once done (`next`, `true`, `error`, …).
    public var port: String?
    public var input: JSONAny?
    public var output: JSONAny?
    public var error: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// When a wait or a retry is due.
    public var dueAt: Date?
    /// When the step times out.
    public var deadline: Date?
    public var toolRunID: TimeOrderedID?
    /// Whether repeating its work is safe (pure steps, read-risk tools): after a crash in the
    /// middle, such a step starts again; another stops the run for attention.
    public var idempotent: Bool
    public var children: [TimeOrderedID]?
    /// For-each: the items, and each child's outputs as they finish.
    public var items: [JSONAny]?
    public var results: [JSONAny]?
    /// For-each: how many children finished.
    public var completed: Int?
    /// For a tool step: when it was handed to the tool (a crash before that repeats nothing).
    public var handedOverAt: Date?
    public var approval: ApprovalState?
    public var durationMilliseconds: Double?

    public init(status: Status, attempts: Int, idempotent: Bool) {
        self.status = status
        self.attempts = attempts
        self.idempotent = idempotent
    }
}

/// Who may decide an approval step and what they decided.
public struct ApprovalState: Codable, Sendable, Equatable {
    public var mode: ApprovalRule.Mode
    public var approvers: [String]
    public var role: Role?
    public var allowSelfApproval: Bool
    public var risk: RiskLevel
    public var message: String
    public var expiresAt: Date
    public var decisions: [WorkflowDecision]
}

public struct WorkflowDecision: Codable, Sendable, Equatable {
    public let userID: UUID
    public let username: String
    public let approved: Bool
    public let comment: String
    public let time: Date
}

/// One line of a run's history.
public struct WorkflowLogEntry: Codable, Sendable, Equatable {
    public let sequence: Int
    public let time: Date
    public let kind: EventKind
    public let node: String?
    public let attempt: Int?
    public let status: String
    public let detail: String
}

/// What workflow events carry (webhooks, the event stream, triggers, the audit trail).
public struct WorkflowEvent: Codable, Sendable, Equatable {
    public let kind: EventKind
    public let workflow: String
    public let version: Int
    public let runID: TimeOrderedID?
    public let node: String?
    /// The run's status, or for step events the step's.
    public let status: String
    public let actorID: UUID?
    public let detail: String

    public init(kind: EventKind, workflow: String, version: Int, runID: TimeOrderedID?, node: String?, status: String, actorID: UUID?, detail: String) {
        self.kind = kind
        self.workflow = workflow
        self.version = version
        self.runID = runID
        self.node = node
        self.status = status
        self.actorID = actorID
        self.detail = detail
    }
}

/// A saved version of a workflow, as stored.
public struct WorkflowVersion: Codable, Sendable, Equatable {
    public let version: Int
    public let definition: WorkflowDefinition
    public let savedBy: UUID
    public let savedByName: String
    public let savedAt: Date
    public let note: String
}

/// A workflow's entry in the organization's list.
public struct WorkflowSummary: Codable, Sendable, Equatable {
    public let name: String
    public var title: String
    public var description: String
    public var latestVersion: Int
    public var updatedAt: Date
    public var updatedByName: String
    /// Whose account schedule and event triggers start runs as: who saved the latest version.
    public var ownerID: UUID
}
