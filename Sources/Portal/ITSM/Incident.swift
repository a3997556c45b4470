public import FoundationEssentials
public import KV

/// Something that broke or degraded, and the work to restore it.
public struct Incident: Codable, Sendable, Equatable {
    public let id: TimeOrderedID
    public let organizationID: UUID
    /// `INC-<number>`, counting per organization from 1.
    public let number: Int
    public var title: String
    public var description: String
    public var impact: Level
    public var urgency: Level
    /// From impact × urgency by the organization's matrix (1 is the highest).
    public var priority: Int
    public var category: String
    /// The affected service or configuration item, by name.
    public var service: String?
    public var assigneeID: UUID?
    public var assigneeName: String?
    /// The assignment group.
    public var group: String?
    public let reporterID: UUID
    public let reporterName: String
    public var state: IncidentState
    public var pendingReason: String?
    /// When a pending incident goes back to in progress by itself.
    public var pendingUntil: Date?
    public var resolutionCode: ResolutionCode?
    public var resolutionNotes: String?
    public var major: Bool
    /// The incident this one duplicates.
    public var duplicateOf: TimeOrderedID?
    /// Tool runs, workflow runs and conversations that belong to it.
    public var links: [IncidentLink]
    public var slas: [SLAClock]
    /// SLA clocks whose warning (`w<index>`) or breach (`b<index>`) was announced: each once.
    public var announced: [String]
    public let createdAt: Date
    public var updatedAt: Date
    public var firstResponseAt: Date?
    public var resolvedAt: Date?
    public var closedAt: Date?
    public var timelineLength: Int

    public var reference: String { "INC-\(number)" }
}

public enum ResolutionCode: String, Codable, Sendable, CaseIterable {
    case fixed
    case workaround
    case notReproducible = "not-reproducible"
    case duplicate
    case cancelled
}

public struct IncidentLink: Codable, Sendable, Equatable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case toolRun = "tool-run"
        case workflowRun = "workflow-run"
        case conversation
    }

    public let kind: Kind
    public let id: String

    public init(kind: Kind, id: String) {
        self.kind = kind
        self.id = id
    }
}

/// One entry of an incident's timeline: who changed what, when, from what to what; a
/// comment (internal ones only for the team); a link; an SLA warning or breach.
public struct IncidentChange: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case opened, changed, state, comment, link, sla
    }

    public let sequence: Int
    public let time: Date
    public let actorID: UUID?
    /// `portal` for what the portal did by itself (a pending date reached, an SLA warning).
    public let actorName: String
    public let kind: Kind
    public let field: String?
    public let old: String?
    public let new: String?
    public let text: String?
    /// A comment only the team sees (not the reporter, unless they are on the team).
    public let isInternal: Bool
}

/// An incident event: what webhooks, workflows (event triggers) and the audit receive.
public struct IncidentEvent: Codable, Sendable, Equatable {
    public let kind: EventKind
    public let incidentID: TimeOrderedID
    public let number: Int
    public let priority: Int
    public let state: IncidentState
    public let service: String?
    public let assigneeID: UUID?
    public let major: Bool
    public let actorID: UUID?
    public let detail: String

    init(_ kind: EventKind, _ incident: Incident, actorID: UUID?, detail: String) {
        self.kind = kind
        incidentID = incident.id
        number = incident.number
        priority = incident.priority
        state = incident.state
        service = incident.service
        assigneeID = incident.assigneeID
        major = incident.major
        self.actorID = actorID
        self.detail = String(detail.prefix(500))
    }
}

/// An SLA: the targets for the incidents its conditions match, counted on a calendar.
public struct SLADefinition: Codable, Sendable, Equatable {
    public var name: String
    /// Set by the portal: 1, then one more at every save. Clocks keep the version they
    /// started with.
    public var version: Int?
    /// Conditions (each empty one matches anything): priorities, categories, services.
    public var priorities: [Int]?
    public var categories: [String]?
    public var services: [String]?
    /// A business calendar's name in the organization; 24×7 when absent.
    public var calendar: String?
    public var firstResponseMinutes: Int?
    public var resolutionMinutes: Int?
    /// The warning before the breach, in percent of the target (75 when absent; 0: none).
    public var warnAtPercent: Int?
    /// What the portal does, besides announcing it, when a clock warns or breaches.
    public var escalations: [SLAEscalation]?

    public init(name: String, priorities: [Int]? = nil, categories: [String]? = nil, services: [String]? = nil, calendar: String? = nil,
                firstResponseMinutes: Int? = nil, resolutionMinutes: Int? = nil, warnAtPercent: Int? = nil, escalations: [SLAEscalation]? = nil) {
        self.name = name
        self.priorities = priorities
        self.categories = categories
        self.services = services
        self.calendar = calendar
        self.firstResponseMinutes = firstResponseMinutes
        self.resolutionMinutes = resolutionMinutes
        self.warnAtPercent = warnAtPercent
        self.escalations = escalations
    }

    func applies(to incident: Incident) -> Bool {
        (priorities?.isEmpty ?? true || priorities!.contains(incident.priority))
            && (categories?.isEmpty ?? true || categories!.contains(incident.category))
            && (services?.isEmpty ?? true || incident.service.map { services!.contains($0) } ?? false)
    }

    func check() throws {
        guard Incidents.isValidName(name) else { throw PortalError.invalid("name: 1 to 64 lower-case letters, digits and '-'") }
        guard firstResponseMinutes != nil || resolutionMinutes != nil else { throw PortalError.invalid("an SLA needs a first-response or a resolution target") }
        for (field, minutes) in [("firstResponseMinutes", firstResponseMinutes), ("resolutionMinutes", resolutionMinutes)] {
            if let minutes, !(1...525_600).contains(minutes) { throw PortalError.invalid("\(field) is from 1 minute to a year") }
        }
        if let priorities, !priorities.allSatisfy({ (1...5).contains($0) }) { throw PortalError.invalid("priorities are 1 to 5") }
        if let warnAtPercent, !(0...99).contains(warnAtPercent) { throw PortalError.invalid("warnAtPercent is from 0 (no warning) to 99") }
        let escalations = escalations ?? []
        guard escalations.count <= 10 else { throw PortalError.invalid("escalations: at most 10") }
        for (index, escalation) in escalations.enumerated() {
            let field = "escalations[\(index)]"
            guard escalation.assignee != nil || escalation.group != nil || escalation.raisePriority == true else {
                throw PortalError.invalid("\(field): say what it does (assignee, group or raisePriority)")
            }
            if escalation.at == .warning, warnAtPercent == 0 { throw PortalError.invalid("\(field): at warning, but warnAtPercent 0 turns the warning off") }
            if let assignee = escalation.assignee { try Incidents.checkText(assignee, "\(field).assignee", 1...64) }
            if let group = escalation.group { try Incidents.checkText(group, "\(field).group", 1...64) }
        }
    }
}

/// An SLA clock's escalation: at its warning or its breach, the incident is reassigned (to a
/// member, a group, or both) and/or its priority raised. Announced as `incident.sla-warning`
/// or `incident.sla-breached` either way, so a workflow whose event trigger's condition
/// matches the SLA runs as well.
public struct SLAEscalation: Codable, Sendable, Equatable {
    public enum Moment: String, Codable, Sendable, CaseIterable { case warning, breach }

    public var at: Moment
    /// Only this target's clock (both when absent).
    public var target: SLAClock.Target?
    /// A member's user name: the incident is assigned to them (skipped, and said on the
    /// timeline, when they are no longer a member).
    public var assignee: String?
    /// The incident moves to this assignment group.
    public var group: String?
    /// The urgency goes up one step (the impact, once urgency is high), and the priority
    /// follows the matrix; so it stays what the matrix says for the incident's fields.
    public var raisePriority: Bool?

    public init(at: Moment, target: SLAClock.Target? = nil, assignee: String? = nil, group: String? = nil, raisePriority: Bool? = nil) {
        self.at = at
        self.target = target
        self.assignee = assignee
        self.group = group
        self.raisePriority = raisePriority
    }
}

/// An organization's incident settings.
public struct IncidentSettings: Codable, Sendable, Equatable {
    public var matrix: PriorityMatrix
    /// A resolved incident closes by itself after this many days (0: only by hand).
    public var closeAfterDays: Int

    public static let standard = IncidentSettings(matrix: .standard, closeAfterDays: 7)
}
