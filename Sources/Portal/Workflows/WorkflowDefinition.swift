import FoundationEssentials

/// A workflow as people write it: steps (nodes) joined by edges, with an inputs schema,
/// variables and outputs. Saved, it is an immutable version; runs are pinned to the version
/// they started on. `validate()` lists every problem, each tied to its node when it has one.
///
/// How a run moves: the entry step (the one no edge leads to) runs first; a finished step
/// follows the edges leaving its outcome port (`next`; `true`/`false` for a condition; a
/// case name or `default` for a switch; `error` for a failure handled by a handler path)
/// and marks every other leaving edge not taken. A step with several edges leading to it
/// runs once each of them is decided and at least one was taken (a join can instead go on
/// after the first, or after N, of them). The graph has no cycles: loops are the `for-each`
/// and `while` steps, which run another workflow per item or per round.
public struct WorkflowDefinition: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    /// Lower-case letters, digits and `-`, unique in the organization.
    public var name: String
    public var title: String
    public var description: String
    /// A JSON Schema (the subset tools use) for what a run is started with.
    public var inputs: JSONAny
    /// Initial values of `vars`.
    public var variables: [String: JSONAny]
    /// What a finished run reports: name → template over `inputs`, `vars`, `steps`.
    public var outputs: [String: JSONAny]
    public var nodes: [WorkflowNode]
    public var edges: [WorkflowEdge]
    /// How many of its runs may be unfinished at once in an organization; beyond it new runs
    /// wait in the queue or are refused.
    public var concurrency: ConcurrencyLimit?
    public var triggers: [WorkflowTrigger]

    public init(name: String, title: String, description: String = "", inputs: JSONAny = .object(["type": .string("object")]), variables: [String: JSONAny] = [:],
                outputs: [String: JSONAny] = [:], nodes: [WorkflowNode], edges: [WorkflowEdge], concurrency: ConcurrencyLimit? = nil, triggers: [WorkflowTrigger] = []) {
        self.name = name
        self.title = title
        self.description = description
        self.inputs = inputs
        self.variables = variables
        self.outputs = outputs
        self.nodes = nodes
        self.edges = edges
        self.concurrency = concurrency
        self.triggers = triggers
    }

    enum CodingKeys: String, CodingKey { case schemaVersion, name, title, description, inputs, variables, outputs, nodes, edges, concurrency, triggers }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 1
        name = try container.decode(String.self, forKey: .name)
        title = try container.decodeIfPresent(String.self, forKey: .title) ?? name
        description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        inputs = try container.decodeIfPresent(JSONAny.self, forKey: .inputs) ?? .object(["type": .string("object")])
        variables = try container.decodeIfPresent([String: JSONAny].self, forKey: .variables) ?? [:]
        outputs = try container.decodeIfPresent([String: JSONAny].self, forKey: .outputs) ?? [:]
        nodes = try container.decode([WorkflowNode].self, forKey: .nodes)
        edges = try container.decodeIfPresent([WorkflowEdge].self, forKey: .edges) ?? []
        concurrency = try container.decodeIfPresent(ConcurrencyLimit.self, forKey: .concurrency)
        triggers = try container.decodeIfPresent([WorkflowTrigger].self, forKey: .triggers) ?? []
    }

    public func node(_ id: String) -> WorkflowNode? { nodes.first { $0.id == id } }

    /// The step a run starts at (validated to be exactly one).
    public var entry: WorkflowNode? {
        let targets = Set(edges.map(\.to))
        return nodes.first { !targets.contains($0.id) }
    }

    public func incoming(_ id: String) -> [WorkflowEdge] { edges.filter { $0.to == id } }
    public func outgoing(_ id: String) -> [WorkflowEdge] { edges.filter { $0.from == id } }

    /// Every step reachable from `id` by edges, itself included.
    public func downstream(of id: String) -> Set<String> {
        var seen: Set<String> = [id]
        var queue = [id]
        while let next = queue.popLast() {
            for edge in outgoing(next) where seen.insert(edge.to).inserted { queue.append(edge.to) }
        }
        return seen
    }

    public static let limits = (nodes: 200, edges: 400, triggers: 10, nameLength: 64, titleLength: 200, variables: 100)
}

/// A step of a workflow.
public struct WorkflowNode: Codable, Sendable, Equatable {
    /// Lower-case letters, digits and `_`, starting with a letter (so `steps.<id>` reads it).
    public var id: String
    public var type: StepType
    public var title: String?
    /// The type's settings (see `StepType.configSchema`).
    public var config: JSONAny
    /// How long the step may take, attempts included, in seconds; `nil`: the type's default.
    public var timeoutSeconds: Int?
    public var retry: RetryPolicy?
    public var onFailure: FailureAction?
    /// Where the designer draws it.
    public var position: Position?

    public struct Position: Codable, Sendable, Equatable {
        public var x: Double
        public var y: Double
        public init(x: Double, y: Double) { self.x = x; self.y = y }
    }

    public init(id: String, type: StepType, title: String? = nil, config: JSONAny = .object([:]), timeoutSeconds: Int? = nil, retry: RetryPolicy? = nil,
                onFailure: FailureAction? = nil, position: Position? = nil) {
        self.id = id
        self.type = type
        self.title = title
        self.config = config
        self.timeoutSeconds = timeoutSeconds
        self.retry = retry
        self.onFailure = onFailure
        self.position = position
    }

    public var failureAction: FailureAction { onFailure ?? .stop }

    enum CodingKeys: String, CodingKey { case id, type, title, config, timeoutSeconds, retry, onFailure, position }

    /// `config` may be left out (a step type without settings).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        type = try container.decode(StepType.self, forKey: .type)
        title = try container.decodeIfPresent(String.self, forKey: .title)
        config = try container.decodeIfPresent(JSONAny.self, forKey: .config) ?? .object([:])
        timeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        retry = try container.decodeIfPresent(RetryPolicy.self, forKey: .retry)
        onFailure = try container.decodeIfPresent(FailureAction.self, forKey: .onFailure)
        position = try container.decodeIfPresent(Position.self, forKey: .position)
    }
}

/// An arrow from one step's port to another step.
public struct WorkflowEdge: Codable, Sendable, Equatable, Hashable {
    public var from: String
    /// `nil` is `next`.
    public var port: String?
    public var to: String

    public init(from: String, port: String? = nil, to: String) {
        self.from = from
        self.port = port
        self.to = to
    }

    public var outcome: String { port ?? "next" }
}

/// What a failed step does to the run (after its retries).
public enum FailureAction: String, Codable, Sendable, CaseIterable {
    /// The run fails.
    case stop
    /// The step counts as done (failed) and the run follows `next`.
    case `continue`
    /// The run follows the step's `error` port.
    case handler
}

public struct RetryPolicy: Codable, Sendable, Equatable {
    /// Attempts in all, the first included (1…10).
    public var attempts: Int
    /// The wait before the second attempt; each further wait is `multiplier` times longer.
    public var backoffSeconds: Double
    public var multiplier: Double?

    public init(attempts: Int, backoffSeconds: Double, multiplier: Double? = nil) {
        self.attempts = attempts
        self.backoffSeconds = backoffSeconds
        self.multiplier = multiplier
    }

    /// The wait after attempt `attempt` failed.
    public func delay(after attempt: Int) -> Double {
        var wait = backoffSeconds
        for _ in 0..<min(max(attempt - 1, 0), 40) { wait *= max(multiplier ?? 2, 1) }
        return min(wait, 24 * 3600)
    }
}

public struct ConcurrencyLimit: Codable, Sendable, Equatable {
    public enum Overflow: String, Codable, Sendable, CaseIterable { case queue, reject }
    public var limit: Int
    public var overflow: Overflow
    public init(limit: Int, overflow: Overflow) {
        self.limit = limit
        self.overflow = overflow
    }
}

/// What starts a run besides a person or the API.
public struct WorkflowTrigger: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case schedule, event, webhook }
    public var type: Kind
    /// For `schedule`: five-field cron and an IANA time zone.
    public var cron: String?
    public var timeZone: String?
    /// For `event`: the event's dotted name, and a condition over `event` (its payload). For
    /// `webhook`: a condition over `body` (the request's JSON) and `webhook` (its id and
    /// timestamp); a delivery for which it does not hold starts nothing.
    public var event: String?
    public var condition: String?
    /// The run's inputs: a template over `event` for event triggers, over `body` and `webhook`
    /// for webhook triggers (the body itself when absent).
    public var inputs: JSONAny?
    /// `false`: kept in the definition but starts nothing (a template's schedule waiting for
    /// its real inputs). Absent: enabled.
    public var enabled: Bool?

    public var isEnabled: Bool { enabled ?? true }

    public init(type: Kind, cron: String? = nil, timeZone: String? = nil, event: String? = nil, condition: String? = nil, inputs: JSONAny? = nil, enabled: Bool? = nil) {
        self.enabled = enabled
        self.type = type
        self.cron = cron
        self.timeZone = timeZone
        self.event = event
        self.condition = condition
        self.inputs = inputs
    }
}

/// The kinds of step.
public enum StepType: String, Codable, Sendable, CaseIterable {
    /// Runs a catalog tool through the one run path (permissions, approvals, audit).
    case tool
    /// Sends an HTTP request (to what webhooks may reach) and reads the answer.
    case http
    /// `true` or `false` by an expression.
    case condition
    /// The first case whose expression holds, or `default`.
    case `switch`
    /// Waits for the edges leading to it: all, any, or N of them.
    case join
    /// Runs another workflow per item of a list, some at once.
    case forEach = "for-each"
    /// Runs another workflow again while (or until) a condition holds, up to a maximum.
    case `while`
    /// Runs another workflow and waits for it.
    case subWorkflow = "sub-workflow"
    /// Waits for people's decision.
    case approval
    /// Waits for a duration or until a time.
    case wait
    /// Waits for an event that matches a condition.
    case waitEvent = "wait-event"
    /// Sets variables.
    case set
    /// Tells people in the portal.
    case notify
    /// Ends the run as failed with a message.
    case fail
    /// Ends the run as succeeded.
    case stop

    /// The ports it can leave by (besides `error` when its failure action is `handler`);
    /// `nil` for a switch (its case names and `default`).
    public var ports: [String]? {
        switch self {
        case .condition: ["true", "false"]
        case .switch: nil
        case .fail, .stop: []
        default: ["next"]
        }
    }

    /// Whether its work happens outside the portal (a tool, an HTTP request): it is handed
    /// over after a commit, and a crash after that leaves its effect unknown.
    var isExternal: Bool { self == .tool || self == .http }

    /// Whether it does its work in the transition that starts it (nothing to wait for, so
    /// nothing to lose in a crash).
    var isInstant: Bool { [.condition, .switch, .join, .set, .notify, .fail, .stop].contains(self) }

    public var category: String {
        switch self {
        case .tool, .http, .subWorkflow: "Actions"
        case .condition, .switch, .join, .forEach, .while: "Flow"
        case .approval, .wait, .waitEvent: "Waits"
        case .set, .notify, .fail, .stop: "Other"
        }
    }
}
