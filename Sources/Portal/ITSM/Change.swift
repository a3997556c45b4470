public import FoundationEssentials
public import KV

/// How a change is approved: standard (from a pre-approved template, no CAB), normal (assessed,
/// then authorized by the CAB), emergency (authorized by the emergency CAB without assessment).
public enum ChangeType: String, Codable, Sendable, CaseIterable {
    case standard, normal, emergency

    /// The states a change of this type may move to from `state` by hand. Leaving
    /// `authorize` is the CAB's: approval schedules it, a rejection sends it back to assess.
    public func next(from state: ChangeState) -> [ChangeState] {
        let forward: [ChangeState] = switch (self, state) {
        case (.standard, .new): [.scheduled]
        case (.normal, .new): [.assess]
        case (.emergency, .new): [.authorize]
        case (_, .assess): [.authorize]
        case (_, .scheduled): [.implement]
        case (_, .implement): [.review]
        case (_, .review): [.closed]
        default: []
        }
        return state.isFinal ? [] : forward + [.cancelled]
    }

    /// `PortalError.conflict` naming the allowed moves when `target` is not one.
    public func check(from state: ChangeState, to target: ChangeState) throws {
        let allowed = next(from: state)
        guard allowed.contains(target) else {
            let why = state == .authorize ? " (the CAB's decision moves it on)" : ""
            throw PortalError.conflict("a \(rawValue) change cannot go from \(state.rawValue) to \(target.rawValue)\(why); from \(state.rawValue) it can go to: "
                                       + (allowed.isEmpty ? "none: it is final" : allowed.map(\.rawValue).joined(separator: ", ")))
        }
    }
}

public enum ChangeState: String, Codable, Sendable, CaseIterable {
    case new, assess, authorize, scheduled, implement, review, closed, cancelled

    public var isFinal: Bool { self == .closed || self == .cancelled }
    /// Whether the change holds its planned window on its items (other changes on them may
    /// not overlap it).
    public var holdsWindow: Bool { [.authorize, .scheduled, .implement].contains(self) }
}

public enum ChangeOutcome: String, Codable, Sendable, CaseIterable {
    case successful, failed
    case backedOut = "backed-out"
}

/// Who authorizes: named members (all of them, or any one) or members with at least a role
/// (`required` of them). Nobody approves their own change.
public struct CABPolicy: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case allOf = "all-of"
        case anyOne = "any-one"
    }

    public var mode: Mode
    /// User names; with none, anyone with `role`.
    public var approvers: [String]?
    public var role: Role?
    /// With a role: how many approvals authorize (1 when absent).
    public var required: Int?

    public init(mode: Mode, approvers: [String]? = nil, role: Role? = nil, required: Int? = nil) {
        self.mode = mode
        self.approvers = approvers
        self.role = role
        self.required = required
    }

    func check() throws {
        let named = approvers ?? []
        guard !named.isEmpty || role != nil else { throw PortalError.invalid("cab: name approvers or a role") }
        guard named.count <= 20, Set(named).count == named.count else { throw PortalError.invalid("cab.approvers: at most 20, each once") }
        if let required, !(1...20).contains(required) { throw PortalError.invalid("cab.required is 1 to 20") }
    }

    /// How many approvals authorize.
    var needed: Int {
        if let approvers, !approvers.isEmpty { return mode == .allOf ? approvers.count : 1 }
        return mode == .allOf ? (required ?? 1) : 1
    }

    func mayDecide(_ principal: Principal) -> Bool {
        if let approvers, !approvers.isEmpty { return approvers.contains(principal.user.username) }
        guard let role else { return false }
        return principal.user.isAdministrator || (principal.role.map { $0 >= role } ?? false)
    }
}

/// One CAB member's decision.
public struct CABDecision: Codable, Sendable, Equatable {
    public let approverID: UUID
    public let approverName: String
    public let approve: Bool
    public let comment: String
    public let time: Date
}

/// A time when changes other than emergencies are not scheduled.
public struct FreezeWindow: Codable, Sendable, Equatable {
    public var start: Date
    public var end: Date
    public var reason: String

    public init(start: Date, end: Date, reason: String) {
        self.start = start
        self.end = end
        self.reason = reason
    }
}

/// An organization's change rules: the CABs and the freeze windows.
public struct ChangeSettings: Codable, Sendable, Equatable {
    public var normalCAB: CABPolicy
    public var emergencyCAB: CABPolicy
    public var freezes: [FreezeWindow]

    public static let standard = ChangeSettings(normalCAB: CABPolicy(mode: .anyOne, role: .admin), emergencyCAB: CABPolicy(mode: .anyOne, role: .admin), freezes: [])
}

/// A pre-approved change: a standard change follows it without the CAB.
public struct ChangeTemplate: Codable, Sendable, Equatable {
    public var name: String
    public var title: String
    public var description: String?
    public var implementationWorkflow: String?
    public var backoutPlan: String?

    public init(name: String, title: String, description: String? = nil, implementationWorkflow: String? = nil, backoutPlan: String? = nil) {
        self.name = name
        self.title = title
        self.description = description
        self.implementationWorkflow = implementationWorkflow
        self.backoutPlan = backoutPlan
    }
}

/// A change to the configuration items of an organization, on its path by type.
public struct Change: Codable, Sendable, Equatable {
    public let id: TimeOrderedID
    public let organizationID: UUID
    /// `CHG-<number>`, counting per organization from 1.
    public let number: Int
    public let type: ChangeType
    public var template: String?
    public var title: String
    public var description: String
    public var risk: Level
    public var impact: Level
    /// The configuration items it touches, by name.
    public var assets: [String]
    public var windowStart: Date?
    public var windowEnd: Date?
    /// The workflow that implements it, started when it moves to implement.
    public var implementationWorkflow: String?
    public var implementationRunID: TimeOrderedID?
    public var backoutPlan: String
    public var state: ChangeState
    public var cab: CABPolicy?
    public var decisions: [CABDecision]
    /// Why the CAB last sent it back to assess.
    public var rejection: String?
    public var outcome: ChangeOutcome?
    public var review: String?
    public let requesterID: UUID
    public let requesterName: String
    public let createdAt: Date
    public var updatedAt: Date
    /// What happened, oldest first: moves, decisions, the implementation run (the last 500).
    public var history: [String]

    public var reference: String { "CHG-\(number)" }
}

/// What to open a change with (`POST /api/changes`).
public struct ChangeDraft: Codable, Sendable {
    public var type: ChangeType
    /// A standard change names its template (its title, workflow and backout plan are the
    /// template's unless given).
    public var template: String?
    public var title: String?
    public var description: String?
    public var risk: Level?
    public var impact: Level?
    public var assets: [String]?
    public var windowStart: Date?
    public var windowEnd: Date?
    public var implementationWorkflow: String?
    public var backoutPlan: String?

    public init(type: ChangeType, template: String? = nil, title: String? = nil, description: String? = nil, risk: Level? = nil, impact: Level? = nil,
                assets: [String]? = nil, windowStart: Date? = nil, windowEnd: Date? = nil, implementationWorkflow: String? = nil, backoutPlan: String? = nil) {
        self.type = type
        self.template = template
        self.title = title
        self.description = description
        self.risk = risk
        self.impact = impact
        self.assets = assets
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.implementationWorkflow = implementationWorkflow
        self.backoutPlan = backoutPlan
    }
}

/// A move by hand (`POST /api/changes/{id}/state`).
public struct ChangeMove: Codable, Sendable {
    public var state: ChangeState
    /// Implement → review: how it went.
    public var outcome: ChangeOutcome?
    /// Review → closed: the post-implementation review; cancelled: why.
    public var notes: String?

    public init(state: ChangeState, outcome: ChangeOutcome? = nil, notes: String? = nil) {
        self.state = state
        self.outcome = outcome
        self.notes = notes
    }
}

/// A change event, for webhooks, workflow triggers and the audit.
public struct ChangeEvent: Codable, Sendable, Equatable {
    public let kind: EventKind
    public let changeID: TimeOrderedID
    public let number: Int
    public let type: ChangeType
    public let state: ChangeState
    public let actorID: UUID?
    public let detail: String
}
