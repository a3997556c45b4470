public import FoundationEssentials

/// Impact and urgency, each high, medium or low.
public enum Level: String, Codable, Sendable, CaseIterable, Comparable {
    case high, medium, low

    public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    private var rank: Int { switch self { case .high: 0; case .medium: 1; case .low: 2 } }
}

/// Priority from impact × urgency: 1 (critical) to 5 (planning).
///
/// Guarantees: every one of the nine pairs has a priority from 1 to 5; the default is the
/// ITIL table (high/high 1 … low/low 5); an organization's own table must keep the order —
/// more impact or more urgency never gives a lower priority — or `check()` says which pair
/// breaks it.
public struct PriorityMatrix: Codable, Sendable, Equatable {
    /// `"impact/urgency"` → priority.
    public var priorities: [String: Int]

    public init(priorities: [String: Int]) { self.priorities = priorities }

    public static let standard = PriorityMatrix(priorities: [
        "high/high": 1, "high/medium": 2, "high/low": 3,
        "medium/high": 2, "medium/medium": 3, "medium/low": 4,
        "low/high": 3, "low/medium": 4, "low/low": 5,
    ])

    static func key(_ impact: Level, _ urgency: Level) -> String { "\(impact.rawValue)/\(urgency.rawValue)" }

    public func priority(impact: Level, urgency: Level) -> Int {
        priorities[Self.key(impact, urgency)] ?? Self.standard.priorities[Self.key(impact, urgency)]!
    }

    public func check() throws {
        for impact in Level.allCases {
            for urgency in Level.allCases {
                guard let value = priorities[Self.key(impact, urgency)], (1...5).contains(value) else {
                    throw PortalError.invalid("priorities: \(Self.key(impact, urgency)) needs a priority from 1 to 5")
                }
            }
        }
        guard priorities.count == 9 else { throw PortalError.invalid("priorities: only the nine impact/urgency pairs (high, medium, low)") }
        for impact in Level.allCases {
            for urgency in Level.allCases {
                let value = priority(impact: impact, urgency: urgency)
                let neighbours: [(Level?, Level?)] = [(impact, urgency.raised), (impact.raised, urgency)]
                for (moreImpact, moreUrgency) in neighbours {
                    guard let moreImpact, let moreUrgency else { continue }
                    let higher = priority(impact: moreImpact, urgency: moreUrgency)
                    if higher > value {
                        throw PortalError.invalid("priorities: \(Self.key(moreImpact, moreUrgency)) is \(higher), lower than \(Self.key(impact, urgency)) (\(value)); more impact or urgency may not lower the priority")
                    }
                }
            }
        }
    }
}

extension Level {
    /// One step more (high stays high: `nil`).
    var raised: Level? { switch self { case .high: nil; case .medium: .high; case .low: .medium } }
}

/// Where an incident stands.
public enum IncidentState: String, Codable, Sendable, CaseIterable {
    case new
    case inProgress = "in-progress"
    /// Waiting on someone outside the team (a reason, and optionally when to look again).
    case pending
    case resolved
    case closed

    /// The states it may move to. Closed is final; re-opening is from resolved.
    public var next: [IncidentState] {
        switch self {
        case .new: [.inProgress, .pending, .resolved]
        case .inProgress: [.pending, .resolved]
        case .pending: [.inProgress, .resolved]
        case .resolved: [.inProgress, .closed]
        case .closed: []
        }
    }

    /// `PortalError.conflict` naming the allowed moves when `target` is not one.
    public func check(moveTo target: IncidentState) throws {
        guard next.contains(target) else {
            let allowed = next.isEmpty ? "none: a closed incident is final" : next.map(\.rawValue).joined(separator: ", ")
            throw PortalError.conflict("an incident cannot go from \(rawValue) to \(target.rawValue); from \(rawValue) it can go to: \(allowed)")
        }
    }

    /// Whether SLA clocks count (they pause while pending and stop once resolved).
    public var clocksRun: Bool { self == .new || self == .inProgress }
}
