public import FoundationEssentials
public import KV

/// The incident figures of one day (UTC), for one assignment group or for all: kept up to
/// date by every change in its own transaction, so a period's figures are one read per day.
struct IncidentDay: Codable, Sendable, Equatable {
    var opened = 0
    var responded = 0
    /// Sum over the day's first responses of (first response − opened), in seconds.
    var respondSeconds = 0.0
    var resolved = 0
    /// Sum over the day's resolutions of (resolved − opened), in seconds. A re-opened
    /// incident resolved again counts again.
    var resolveSeconds = 0.0
    var breached = 0
    /// Incidents opened that day by service.
    var services: [String: Int] = [:]

    mutating func add(_ other: IncidentDay) {
        opened += other.opened
        responded += other.responded
        respondSeconds += other.respondSeconds
        resolved += other.resolved
        resolveSeconds += other.resolveSeconds
        breached += other.breached
        services.merge(other.services, uniquingKeysWith: +)
    }
}

/// What lists and the dashboard need of an incident, kept in the state index so that
/// counting open incidents never decodes whole records.
struct IncidentSummary: Codable, Sendable, Equatable {
    enum SLAStanding: String, Codable, Sendable {
        /// A clock passed its warning, none breached.
        case atRisk = "at-risk"
        case breached
    }

    let priority: Int
    let group: String?
    let service: String?
    let major: Bool
    let sla: SLAStanding?

    init(_ incident: Incident) {
        priority = incident.priority
        group = incident.group
        service = incident.service
        major = incident.major
        sla = incident.announced.contains { $0.hasPrefix("b") } ? .breached : incident.announced.contains { $0.hasPrefix("w") } ? .atRisk : nil
    }
}

extension Incidents {
    static func stateIndex(_ environment: Environment) throws -> Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<IncidentSummary>> {
        try environment.table("incidents_by_state", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<IncidentSummary>.self)
    }

    static func numberIndex(_ environment: Environment) throws -> Table<CompositeKey<UUID, UInt64>, JSONValue<TimeOrderedID>> {
        try environment.table("incidents_by_number", key: CompositeKey<UUID, UInt64>.self, value: JSONValue<TimeOrderedID>.self)
    }

    /// Schema step 2: the state index held only the priority, and numbers had no index; now
    /// the state index holds the summary, and a number finds its incident.
    static func indexIncidents(_ environment: Environment) throws -> Migration {
        let incidents = try environment.table("incidents", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<Incident>.self)
        let byState = try stateIndex(environment), byNumber = try numberIndex(environment)
        return Migration(2, "incident summaries in the state index, and the number index") { txn in
            var found: [Incident] = []
            try txn.forEach(incidents) { (_, incident) throws(KVError) in found.append(incident); return true }
            for incident in found {
                try txn.put(byState, (incident.organizationID, incident.state.rawValue, incident.id), IncidentSummary(incident))
                try txn.put(byNumber, (incident.organizationID, UInt64(incident.number)), incident.id)
            }
        }
    }
}

/// What the service dashboard shows for a period and, optionally, one assignment group.
public struct IncidentDashboard: Codable, Sendable, Equatable {
    public struct Day: Codable, Sendable, Equatable {
        /// `YYYY-MM-DD` (UTC).
        public let date: String
        public let opened: Int
        public let resolved: Int
        public let breached: Int
        /// Mean time to the first response of that day's first responses, in minutes.
        public let mttaMinutes: Double?
        /// Mean time to resolution of that day's resolutions, in minutes.
        public let mttrMinutes: Double?
    }

    public struct ServiceCount: Codable, Sendable, Equatable {
        public let service: String
        /// Incidents opened in the period.
        public let incidents: Int
        /// Incidents on it open now (whenever they were opened).
        public let open: Int
    }

    public let from: Date
    public let to: Date
    public let group: String?
    /// Open incidents now: state → priority ("1" … "5") → count.
    public let open: [String: [String: Int]]
    public let openTotal: Int
    public let majorOpen: Int
    /// Open incidents with an SLA clock past its warning and not breached.
    public let slaAtRisk: Int
    /// Open incidents with a breached SLA clock.
    public let slaBreached: Int
    public let days: [Day]
    public let opened: Int
    public let resolved: Int
    public let mttaMinutes: Double?
    public let mttrMinutes: Double?
    /// The ten services with the most incidents opened in the period.
    public let topServices: [ServiceCount]
    /// The changes whose window starts in the period, and how they went.
    public var changes: ChangeFigures?
}

extension Incidents {
    static let secondsPerDay = 86_400.0
    static func day(_ time: Date) -> UInt64 { UInt64(max(0, (time.timeIntervalSince1970 / secondsPerDay).rounded(.down))) }
    static func date(ofDay day: UInt64) -> String {
        String(Date(timeIntervalSince1970: Double(day) * secondsPerDay).ISO8601Format().prefix(10))
    }

    /// Adds what a change did to the day figures (for all, and for the incident's group) and
    /// keeps the service index.
    @available(*, noasync)
    func tally(from previous: Incident?, to incident: Incident, txn: borrowing WriteTransaction) throws {
        var deltas: [UInt64: IncidentDay] = [:]
        if previous == nil {
            deltas[Self.day(incident.createdAt), default: IncidentDay()].add(IncidentDay(opened: 1, services: incident.service.map { [$0: 1] } ?? [:]))
        }
        if previous?.firstResponseAt == nil, let responded = incident.firstResponseAt {
            deltas[Self.day(responded), default: IncidentDay()].add(IncidentDay(responded: 1, respondSeconds: responded.timeIntervalSince(incident.createdAt)))
        }
        if let resolved = incident.resolvedAt, previous?.resolvedAt != resolved {
            deltas[Self.day(resolved), default: IncidentDay()].add(IncidentDay(resolved: 1, resolveSeconds: resolved.timeIntervalSince(incident.createdAt)))
        }
        let breaches = incident.announced.filter { $0.hasPrefix("b") }.count - (previous?.announced.filter { $0.hasPrefix("b") }.count ?? 0)
        if breaches > 0 { deltas[Self.day(incident.updatedAt), default: IncidentDay()].add(IncidentDay(breached: breaches)) }
        for (day, delta) in deltas {
            for group in Set(["", incident.group ?? ""]) {
                var figures = try txn.get(dayFigures, (incident.organizationID, group, day)) ?? IncidentDay()
                figures.add(delta)
                try txn.put(dayFigures, (incident.organizationID, group, day), figures)
            }
        }
        // The service index changes only with the service (not at every move).
        guard previous?.service != incident.service else { return }
        if let old = previous?.service { _ = try txn.delete(byService, (incident.organizationID, old, incident.id)) }
        if let service = incident.service { try txn.put(byService, (incident.organizationID, service, incident.id), "") }
    }

    /// Incidents on a service or configuration item, newest first.
    public func incidents(onService service: String, in organizationID: UUID, limit: Int = 50) throws -> [Incident] {
        try environment.read { txn in
            var found: [Incident] = []
            try txn.forEach(byService, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, service), direction: .reverse) { (key, _) throws(KVError) in
                if let incident = try txn.get(table, (organizationID, key.2)) { found.append(incident) }
                return found.count < limit
            }
            return found
        }
    }

    /// The dashboard for `from ..< to` (whole UTC days, at most 366) and `group` when given:
    /// open incidents from the state index, period figures from the day figures.
    public func dashboard(in organizationID: UUID, from: Date, to: Date, group: String? = nil) throws -> IncidentDashboard {
        let firstDay = Self.day(from)
        let lastDay = max(firstDay, Self.day(to.addingTimeInterval(-1)))
        guard from < to, lastDay - firstDay < 366 else { throw PortalError.invalid("the period is from 1 to 366 days, from before to") }
        if let group { try Self.checkText(group, "group", 1...64) }
        return try environment.read { txn in
            var open: [String: [String: Int]] = [:]
            var openTotal = 0, majorOpen = 0, atRisk = 0, breached = 0
            var openByService: [String: Int] = [:]
            for state in IncidentState.allCases where state != .resolved && state != .closed {
                try txn.forEach(byState, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, state.rawValue)) { (_, summary) throws(KVError) in
                    guard group == nil || summary.group == group else { return true }
                    open[state.rawValue, default: [:]][String(summary.priority), default: 0] += 1
                    openTotal += 1
                    if summary.major { majorOpen += 1 }
                    if let service = summary.service { openByService[service, default: 0] += 1 }
                    switch summary.sla {
                    case .breached: breached += 1
                    case .atRisk: atRisk += 1
                    case nil: break
                    }
                    return true
                }
            }
            var days: [IncidentDashboard.Day] = []
            var total = IncidentDay()
            try txn.forEach(dayFigures, from: (organizationID, group ?? "", firstDay), to: (organizationID, group ?? "", lastDay + 1)) { (key, figures) throws(KVError) in
                days.append(IncidentDashboard.Day(date: Self.date(ofDay: key.2), opened: figures.opened, resolved: figures.resolved, breached: figures.breached,
                                                  mttaMinutes: figures.responded == 0 ? nil : figures.respondSeconds / Double(figures.responded) / 60,
                                                  mttrMinutes: figures.resolved == 0 ? nil : figures.resolveSeconds / Double(figures.resolved) / 60))
                total.add(figures)
                return true
            }
            let top = total.services.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(10)
            return IncidentDashboard(from: from, to: to, group: group, open: open, openTotal: openTotal, majorOpen: majorOpen, slaAtRisk: atRisk, slaBreached: breached,
                                     days: days, opened: total.opened, resolved: total.resolved,
                                     mttaMinutes: total.responded == 0 ? nil : total.respondSeconds / Double(total.responded) / 60,
                                     mttrMinutes: total.resolved == 0 ? nil : total.resolveSeconds / Double(total.resolved) / 60,
                                     topServices: top.map { IncidentDashboard.ServiceCount(service: $0.key, incidents: $0.value, open: openByService[$0.key] ?? 0) })
        }
    }
}
