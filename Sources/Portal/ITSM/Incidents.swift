public import FoundationEssentials
public import KV
import Logging

/// What someone reports.
public struct IncidentDraft: Codable, Sendable {
    public var title: String
    public var description: String?
    public var impact: Level
    public var urgency: Level
    public var category: String?
    public var service: String?
    /// A member's user name.
    public var assignee: String?
    public var group: String?
    public var major: Bool?

    public init(title: String, description: String? = nil, impact: Level, urgency: Level, category: String? = nil, service: String? = nil,
                assignee: String? = nil, group: String? = nil, major: Bool? = nil) {
        self.title = title
        self.description = description
        self.impact = impact
        self.urgency = urgency
        self.category = category
        self.service = service
        self.assignee = assignee
        self.group = group
        self.major = major
    }
}

/// A change of an incident's fields; absent fields stay as they are (`""` clears the optional
/// text fields).
public struct IncidentUpdate: Codable, Sendable {
    public var title: String?
    public var description: String?
    public var impact: Level?
    public var urgency: Level?
    public var category: String?
    public var service: String?
    public var assignee: String?
    public var group: String?
    public var major: Bool?
    /// The incident this one duplicates (its id); `""` clears it.
    public var duplicateOf: String?

    public init(title: String? = nil, description: String? = nil, impact: Level? = nil, urgency: Level? = nil, category: String? = nil, service: String? = nil,
                assignee: String? = nil, group: String? = nil, major: Bool? = nil, duplicateOf: String? = nil) {
        self.title = title
        self.description = description
        self.impact = impact
        self.urgency = urgency
        self.category = category
        self.service = service
        self.assignee = assignee
        self.group = group
        self.major = major
        self.duplicateOf = duplicateOf
    }
}

/// A move to another state, with what that state needs.
public struct IncidentMove: Codable, Sendable {
    public var state: IncidentState
    /// Pending: why (required), and optionally when it goes back to in progress by itself.
    public var reason: String?
    public var until: Date?
    /// Resolved: how (required), and notes.
    public var resolutionCode: ResolutionCode?
    public var notes: String?

    public init(state: IncidentState, reason: String? = nil, until: Date? = nil, resolutionCode: ResolutionCode? = nil, notes: String? = nil) {
        self.state = state
        self.reason = reason
        self.until = until
        self.resolutionCode = resolutionCode
        self.notes = notes
    }
}

/// Incidents: reported by any member, worked by operators, with SLA clocks on business time.
///
/// Guarantees: every change is one transaction holding the incident, its timeline entries
/// (who, when, old → new) and its audited `incident.*` event, so the timeline, webhooks and
/// workflow triggers see exactly what was stored. State moves follow `IncidentState` (409
/// names the allowed ones); SLA clocks pause while pending and resume after, their deadlines
/// moving by the paused business time; each clock's warning and breach are durable timers
/// announced once each (`incident.sla-warning`, `incident.sla-breached`), across restarts. A
/// pending date brings the incident back to in progress by itself, and a resolved incident
/// closes after the organization's `closeAfterDays`. Internal comments are shown only to
/// members who work incidents.
public final class Incidents: Sendable {
    let environment: Environment
    let table: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<Incident>>
    let timeline: Table<CompositeKey<TimeOrderedID, UInt64>, JSONValue<IncidentChange>>
    /// Incidents by state, for lists, counts and the dashboard without a scan:
    /// (organization, state, id) → the incident's summary.
    let byState: Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<IncidentSummary>>
    let numbers: Table<Key<UUID>, JSONValue<Int>>
    /// (organization, number) → id: `INC-12` in one read.
    let byNumber: Table<CompositeKey<UUID, UInt64>, JSONValue<TimeOrderedID>>
    /// (organization, service, id): the incidents on a service or configuration item.
    let byService: Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<String>>
    /// (organization, group or "" for all, UTC day) → that day's figures, for the dashboard.
    let dayFigures: Table<CompositeKey3<UUID, String, UInt64>, JSONValue<IncidentDay>>
    let settingsTable: Table<Key<UUID>, JSONValue<IncidentSettings>>
    let calendars: Table<CompositeKey<UUID, String>, JSONValue<BusinessCalendar>>
    let slaDefinitions: Table<CompositeKey<UUID, String>, JSONValue<SLADefinition>>
    let organizations: Organizations
    let accounts: Accounts
    let outbox: Outbox
    let jobs: Jobs
    let clock: any WallClock
    let logger = Logger(label: "portal.incidents")

    static let slaJob = "incident.sla"
    static let pendingJob = "incident.pending-due"
    static let closeJob = "incident.close"

    struct TimerPayload: Codable, Sendable {
        let organizationID: UUID
        let incidentID: TimeOrderedID
        /// For SLA timers: the clock, `warn` or `breach`, and the instant it was set for.
        var clock: Int? = nil
        var warning: Bool? = nil
        let due: Date
    }

    init(environment: Environment, organizations: Organizations, accounts: Accounts, outbox: Outbox, jobs: Jobs, clock: any WallClock) throws {
        self.environment = environment
        self.organizations = organizations
        self.accounts = accounts
        self.outbox = outbox
        self.jobs = jobs
        self.clock = clock
        table = try environment.table("incidents", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<Incident>.self)
        timeline = try environment.table("incident_timeline", key: CompositeKey<TimeOrderedID, UInt64>.self, value: JSONValue<IncidentChange>.self)
        byState = try Self.stateIndex(environment)
        numbers = try environment.table("incident_numbers", key: Key<UUID>.self, value: JSONValue<Int>.self)
        byNumber = try Self.numberIndex(environment)
        byService = try environment.table("incidents_by_service", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<String>.self)
        dayFigures = try environment.table("incident_days", key: CompositeKey3<UUID, String, UInt64>.self, value: JSONValue<IncidentDay>.self)
        settingsTable = try environment.table("incident_settings", key: Key<UUID>.self, value: JSONValue<IncidentSettings>.self)
        calendars = try environment.table("business_calendars", key: CompositeKey<UUID, String>.self, value: JSONValue<BusinessCalendar>.self)
        slaDefinitions = try environment.table("sla_definitions", key: CompositeKey<UUID, String>.self, value: JSONValue<SLADefinition>.self)
        jobs.register(JobKind(Self.slaJob, concurrency: 4, maxAttempts: 5) { [self] context in
            try await fire(try context.payload(as: TimerPayload.self))
        })
        jobs.register(JobKind(Self.pendingJob, concurrency: 2, maxAttempts: 5) { [self] context in
            try await fire(try context.payload(as: TimerPayload.self))
        })
        jobs.register(JobKind(Self.closeJob, concurrency: 2, maxAttempts: 5) { [self] context in
            try await fire(try context.payload(as: TimerPayload.self))
        })
    }

    /// 1 to 64 lower-case letters, digits and `-`, starting with a letter.
    public static func isValidName(_ name: String) -> Bool { Workflows.isValidName(name) }

    static func organization(of principal: Principal, needing permission: Permission) throws -> UUID {
        guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
        guard principal.has(permission) else { throw PortalError.forbidden("this needs the \(permission.rawValue) permission") }
        return organizationID
    }

    // MARK: Settings, calendars, SLAs

    public func settings(in organizationID: UUID) throws -> IncidentSettings {
        try environment.read { txn in try txn.get(settingsTable, organizationID) } ?? .standard
    }

    public func saveSettings(_ settings: IncidentSettings, by principal: Principal) async throws {
        let organizationID = try Self.organization(of: principal, needing: .itsmManage)
        try settings.matrix.check()
        guard (0...365).contains(settings.closeAfterDays) else { throw PortalError.invalid("closeAfterDays is from 0 (only by hand) to 365") }
        try await environment.write { [settingsTable] txn in try txn.put(settingsTable, organizationID, settings) }
    }

    public func calendar(_ name: String, in organizationID: UUID) throws -> BusinessCalendar? {
        try environment.read { txn in try txn.get(calendars, (organizationID, name)) }
    }

    public func calendars(in organizationID: UUID) throws -> [BusinessCalendar] {
        try environment.read { txn in
            var found: [BusinessCalendar] = []
            try txn.forEach(calendars, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, calendar) throws(KVError) in found.append(calendar); return true }
            return found
        }
    }

    /// Saves a calendar (checked: `invalid` names what is wrong). Running clocks keep the
    /// calendar they started with.
    public func saveCalendar(_ calendar: BusinessCalendar, by principal: Principal) async throws {
        let organizationID = try Self.organization(of: principal, needing: .itsmManage)
        guard Self.isValidName(calendar.name) else { throw PortalError.invalid("name: 1 to 64 lower-case letters, digits and '-'") }
        _ = try calendar.check()
        try await environment.write { [calendars] txn in
            if try txn.get(calendars, (organizationID, calendar.name)) == nil {
                var count = 0
                try txn.forEach(calendars, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, _) throws(KVError) in count += 1; return true }
                guard count < 50 else { throw PortalError.conflict("an organization has at most 50 calendars") }
            }
            try txn.put(calendars, (organizationID, calendar.name), calendar)
        }
    }

    public func slaDefinitions(in organizationID: UUID) throws -> [SLADefinition] {
        try environment.read { txn in
            var found: [SLADefinition] = []
            try txn.forEach(slaDefinitions, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, sla) throws(KVError) in found.append(sla); return true }
            return found
        }
    }

    /// Saves an SLA as its next version. Clocks already running keep theirs.
    @discardableResult
    public func saveSLA(_ definition: SLADefinition, by principal: Principal) async throws -> SLADefinition {
        let organizationID = try Self.organization(of: principal, needing: .itsmManage)
        try definition.check()
        for (index, escalation) in (definition.escalations ?? []).enumerated() {
            if let name = escalation.assignee { _ = try member(named: name, in: organizationID, field: "escalations[\(index)].assignee") }
        }
        return try await environment.write { [self] txn in
            if let name = definition.calendar, try txn.get(calendars, (organizationID, name)) == nil { throw PortalError.invalid("calendar: no calendar '\(name)'") }
            var saved = definition
            saved.version = (try txn.get(slaDefinitions, (organizationID, definition.name))?.version ?? 0) + 1
            if saved.version == 1 {
                var count = 0
                try txn.forEach(slaDefinitions, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, _) throws(KVError) in count += 1; return true }
                guard count < 100 else { throw PortalError.conflict("an organization has at most 100 SLAs") }
            }
            try txn.put(slaDefinitions, (organizationID, definition.name), saved)
            return saved
        }
    }

    // MARK: Reading

    public func incident(_ id: TimeOrderedID, in organizationID: UUID) throws -> Incident? {
        try environment.read { txn in try txn.get(table, (organizationID, id)) }
    }

    /// An incident by its reference (`INC-12`), its number or its id.
    public func incident(reference: String, in organizationID: UUID) throws -> Incident? {
        let text = reference.trimmed.uppercased()
        if let number = UInt64(text.hasPrefix("INC-") ? String(text.dropFirst(4)) : text) {
            return try environment.read { txn in
                guard let id = try txn.get(byNumber, (organizationID, number)) else { return nil }
                return try txn.get(table, (organizationID, id))
            }
        }
        return try TimeOrderedID(reference.trimmed).flatMap { try incident($0, in: organizationID) }
    }

    /// Incidents newest first, in `states` (all when empty), before `cursor`.
    public func list(in organizationID: UUID, states: [IncidentState] = [], limit: Int = 50, before cursor: TimeOrderedID? = nil) throws -> [Incident] {
        try environment.read { txn in
            var ids: [TimeOrderedID] = []
            for state in states.isEmpty ? IncidentState.allCases : states {
                try txn.forEach(byState, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, state.rawValue)) { (key, _) throws(KVError) in
                    if cursor.map({ key.2 < $0 }) ?? true { ids.append(key.2) }
                    return true
                }
            }
            return try ids.sorted(by: >).prefix(limit).compactMap { try txn.get(table, (organizationID, $0)) }
        }
    }

    /// How many incidents are in each state, by priority (from the state index).
    public func counts(in organizationID: UUID) throws -> [IncidentState: [Int: Int]] {
        try environment.read { txn in
            var counts: [IncidentState: [Int: Int]] = [:]
            for state in IncidentState.allCases {
                try txn.forEach(byState, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, state.rawValue)) { (_, summary) throws(KVError) in
                    counts[state, default: [:]][summary.priority, default: 0] += 1
                    return true
                }
            }
            return counts
        }
    }

    /// The timeline, oldest first; internal comments only for those who work incidents.
    public func timeline(of id: TimeOrderedID, for principal: Principal) throws -> [IncidentChange] {
        let organizationID = try Self.organization(of: principal, needing: .incidentsReport)
        return try environment.read { txn in
            guard try txn.get(table, (organizationID, id)) != nil else { throw PortalError.notFound("incident") }
            var entries: [IncidentChange] = []
            try txn.forEach(timeline, from: (id, 0), to: (id, UInt64.max)) { (_, entry) throws(KVError) in
                if !entry.isInternal || principal.has(.incidentsWork) { entries.append(entry) }
                return entries.count < 10_000
            }
            return entries
        }
    }

    // MARK: Changing

    /// An incident being changed in one write transaction.
    struct Change {
        var incident: Incident
        let previous: Incident?
        let now: Date
        let actor: Principal?
        var entries: [(kind: IncidentChange.Kind, field: String?, old: String?, new: String?, text: String?, isInternal: Bool)] = []
        var events: [(EventKind, String)] = []
        var timers: [JobRequest] = []

        mutating func note(_ kind: IncidentChange.Kind, field: String? = nil, old: String? = nil, new: String? = nil, text: String? = nil, isInternal: Bool = false) {
            entries.append((kind, field, old, new, text, isInternal))
        }

        /// Records a field's change (when it changed).
        mutating func set<Value: Equatable>(_ field: String, _ path: WritableKeyPath<Incident, Value>, to value: Value, shown: (Value) -> String?) {
            guard incident[keyPath: path] != value else { return }
            note(.changed, field: field, old: shown(incident[keyPath: path]), new: shown(value))
            incident[keyPath: path] = value
        }
    }

    @available(*, noasync)
    private func commit(_ change: inout Change, txn: borrowing WriteTransaction) throws -> Incident {
        var incident = change.incident
        guard incident != change.previous || !change.entries.isEmpty else { return incident }
        incident.updatedAt = change.now
        let actorName = change.actor?.user.username ?? "portal"
        for entry in change.entries {
            incident.timelineLength += 1
            try txn.put(timeline, (incident.id, UInt64(incident.timelineLength)),
                        IncidentChange(sequence: incident.timelineLength, time: change.now, actorID: change.actor?.user.id, actorName: actorName, kind: entry.kind,
                                       field: entry.field, old: entry.old.map { String($0.prefix(2000)) }, new: entry.new.map { String($0.prefix(2000)) },
                                       text: entry.text.map { String($0.prefix(20_000)) }, isInternal: entry.isInternal))
        }
        try txn.put(table, (incident.organizationID, incident.id), incident)
        let summary = IncidentSummary(incident)
        if let previous = change.previous, previous.state != incident.state {
            _ = try txn.delete(byState, (incident.organizationID, previous.state.rawValue, incident.id))
        }
        if change.previous.map({ $0.state != incident.state || IncidentSummary($0) != summary }) ?? true {
            try txn.put(byState, (incident.organizationID, incident.state.rawValue, incident.id), summary)
        }
        try tally(from: change.previous, to: incident, txn: txn)
        for (kind, detail) in change.events {
            let event = IncidentEvent(kind, incident, actorID: change.actor?.user.id, detail: detail)
            try outbox.record(.incident(event), organizationID: incident.organizationID, time: change.now,
                              audit: AuditEntry(time: change.now, organizationID: incident.organizationID, principal: change.actor?.id,
                                                principalName: change.actor?.user.username, kind: kind.rawValue, outcome: incident.state.rawValue,
                                                detail: "\(incident.reference)" + (detail.isEmpty ? "" : ": \(detail.prefix(500))")), in: txn)
        }
        for timer in change.timers { _ = try jobs.enqueue(timer, in: txn) }
        if IncidentSearch.textChanged(from: change.previous, to: incident) { _ = try jobs.enqueue(try IncidentSearch.job(for: incident), in: txn) }
        for (index, sla) in incident.slas.enumerated() where sla.state == .running {
            for (warning, due) in [(true, sla.warnAt), (false, sla.dueAt)] {
                guard let due, !incident.announced.contains((warning ? "w" : "b") + "\(index)") else { continue }
                let payload = try JSONAny(encoding: TimerPayload(organizationID: incident.organizationID, incidentID: incident.id, clock: index, warning: warning, due: due))
                _ = try jobs.enqueue(JobRequest(kind: Self.slaJob, payload: payload,
                                                idempotencyKey: "incident-sla:\(incident.id):\(index):\(warning ? "w" : "b"):\(Int64(due.timeIntervalSince1970 * 1000))",
                                                dueAt: due), in: txn)
            }
        }
        change.incident = incident
        return incident
    }

    private func write(_ id: TimeOrderedID, in organizationID: UUID, actor: Principal?,
                       _ body: @escaping @Sendable (inout Change, borrowing WriteTransaction) throws -> Void) async throws -> Incident {
        let now = clock.now()
        return try await environment.write { [self] txn in
            guard let incident = try txn.get(table, (organizationID, id)) else { throw PortalError.notFound("incident") }
            var change = Change(incident: incident, previous: incident, now: now, actor: actor)
            try body(&change, txn)
            return try commit(&change, txn: txn)
        }
    }

    /// A member by user name (read before a write, never inside one).
    private func member(named name: String, in organizationID: UUID, field: String = "assignee") throws -> User {
        guard let user = try memberIfAny(named: name, in: organizationID) else {
            throw PortalError.invalid("\(field): '\(name.prefix(64))' is not a member of this organization")
        }
        return user
    }

    /// The member by user name; `nil` when there is no such user or they are not a member.
    private func memberIfAny(named name: String, in organizationID: UUID) throws -> User? {
        guard let user = try accounts.user(named: name), try organizations.role(of: user.id, in: organizationID) != nil else { return nil }
        return user
    }

    static func checkText(_ value: String, _ field: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value.count) else { throw PortalError.invalid("\(field) is \(range.lowerBound) to \(range.upperBound) characters") }
    }

    /// Opens an incident (any member): priority from the matrix, SLA clocks for every SLA
    /// whose conditions match.
    public func open(_ draft: IncidentDraft, by principal: Principal) async throws -> Incident {
        let organizationID = try Self.organization(of: principal, needing: .incidentsReport)
        try Self.checkText(draft.title.trimmed, "title", 1...200)
        try Self.checkText(draft.description ?? "", "description", 0...20_000)
        try Self.checkText(draft.category ?? "general", "category", 1...64)
        if let service = draft.service { try Self.checkText(service, "service", 1...128) }
        if let group = draft.group { try Self.checkText(group, "group", 1...64) }
        if draft.assignee != nil, !principal.has(.incidentsWork) { throw PortalError.forbidden("assigning needs the incidents:work permission") }
        let now = clock.now()
        let settings = try settings(in: organizationID)
        let definitions = try slaDefinitions(in: organizationID)
        let calendarsByName = Dictionary(uniqueKeysWithValues: try calendars(in: organizationID).map { ($0.name, $0) })
        let assignee = try draft.assignee.map { try member(named: $0, in: organizationID) }
        return try await environment.write { [self] txn in
            let number = (try txn.get(numbers, organizationID) ?? 0) + 1
            try txn.put(numbers, organizationID, number)
            let id = TimeOrderedID.generate(now: now)
            try txn.put(byNumber, (organizationID, UInt64(number)), id)
            var incident = Incident(id: id, organizationID: organizationID, number: number, title: draft.title.trimmed,
                                    description: draft.description ?? "", impact: draft.impact, urgency: draft.urgency,
                                    priority: settings.matrix.priority(impact: draft.impact, urgency: draft.urgency), category: draft.category ?? "general",
                                    service: draft.service, assigneeID: assignee?.id, assigneeName: assignee?.username, group: draft.group,
                                    reporterID: principal.user.id, reporterName: principal.user.username, state: .new, major: draft.major ?? false,
                                    links: [], slas: [], announced: [], createdAt: now, updatedAt: now, timelineLength: 0)
            for definition in definitions.sorted(by: { $0.name < $1.name }) where definition.applies(to: incident) {
                let calendar = definition.calendar.flatMap { calendarsByName[$0] } ?? BusinessCalendar.always
                for (target, minutes) in [(SLAClock.Target.firstResponse, definition.firstResponseMinutes), (.resolution, definition.resolutionMinutes)] {
                    guard let minutes else { continue }
                    let warn = definition.warnAtPercent ?? 75
                    incident.slas.append(try SLAClock(sla: definition.name, version: definition.version ?? 1, target: target, calendar: calendar,
                                                      targetSeconds: minutes * 60, warnAtPercent: warn == 0 ? nil : warn,
                                                      escalations: definition.escalations?.filter { $0.target.map { $0 == target } ?? true }, start: now))
                }
            }
            var change = Change(incident: incident, previous: nil, now: now, actor: principal)
            change.note(.opened, text: "\(incident.reference) P\(incident.priority): \(incident.title)")
            change.events.append((.incidentOpened, incident.title))
            return try commit(&change, txn: txn)
        }
    }

    /// Changes fields (incidents:work). Impact or urgency recompute the priority.
    public func update(_ id: TimeOrderedID, _ update: IncidentUpdate, by principal: Principal) async throws -> Incident {
        let organizationID = try Self.organization(of: principal, needing: .incidentsWork)
        if let title = update.title { try Self.checkText(title.trimmed, "title", 1...200) }
        if let description = update.description { try Self.checkText(description, "description", 0...20_000) }
        if let category = update.category { try Self.checkText(category, "category", 1...64) }
        if let service = update.service { try Self.checkText(service, "service", 0...128) }
        if let group = update.group { try Self.checkText(group, "group", 0...64) }
        let matrix = try settings(in: organizationID).matrix
        // The new assignee (`.some(nil)`: nobody), looked up before the write.
        let assignee: User?? = try update.assignee.map { $0.isEmpty ? nil : try member(named: $0, in: organizationID) }
        return try await write(id, in: organizationID, actor: principal) { [self] change, txn in
            guard change.incident.state != .closed else { throw PortalError.conflict("a closed incident does not change") }
            let plain: (String) -> String? = { $0 }
            let optional: (String?) -> String? = { $0 }
            if let title = update.title { change.set("title", \.title, to: title.trimmed, shown: plain) }
            if let description = update.description { change.set("description", \.description, to: description, shown: plain) }
            if let impact = update.impact { change.set("impact", \.impact, to: impact, shown: { $0.rawValue }) }
            if let urgency = update.urgency { change.set("urgency", \.urgency, to: urgency, shown: { $0.rawValue }) }
            change.set("priority", \.priority, to: matrix.priority(impact: change.incident.impact, urgency: change.incident.urgency), shown: { "P\($0)" })
            if let category = update.category { change.set("category", \.category, to: category, shown: plain) }
            if let service = update.service { change.set("service", \.service, to: service.isEmpty ? nil : service, shown: optional) }
            if let group = update.group { change.set("group", \.group, to: group.isEmpty ? nil : group, shown: optional) }
            if let major = update.major { change.set("major", \.major, to: major, shown: { $0 ? "yes" : "no" }) }
            if let user = assignee {
                change.set("assignee", \.assigneeName, to: user?.username, shown: optional)
                change.incident.assigneeID = user?.id
            }
            if let duplicate = update.duplicateOf {
                var target: TimeOrderedID?
                if !duplicate.isEmpty {
                    guard let parsed = TimeOrderedID(duplicate), parsed != id, let original = try txn.get(table, (organizationID, parsed)) else {
                        throw PortalError.invalid("duplicateOf: no other incident \(duplicate.prefix(40)) in this organization")
                    }
                    guard original.duplicateOf != id else { throw PortalError.invalid("duplicateOf: \(original.reference) is a duplicate of this one") }
                    target = parsed
                }
                change.set("duplicateOf", \.duplicateOf, to: target, shown: { $0?.description })
            }
            if !change.entries.isEmpty {
                change.events.append((.incidentUpdated, change.entries.compactMap { $0.field }.joined(separator: ", ")))
            }
        }
    }

    /// Moves the incident to another state (incidents:work; the reporter may also close or
    /// re-open their own resolved incident). Pending needs a reason and may have a date;
    /// resolved needs a resolution code.
    public func move(_ id: TimeOrderedID, _ move: IncidentMove, by principal: Principal) async throws -> Incident {
        let organizationID = try Self.organization(of: principal, needing: .incidentsReport)
        let now = clock.now()
        if move.state == .pending {
            guard let reason = move.reason, !reason.trimmed.isEmpty, reason.count <= 500 else {
                throw PortalError.invalid("reason: a pending incident says what it waits for (1 to 500 characters)")
            }
            if let until = move.until, until <= now { throw PortalError.invalid("until: \(until.ISO8601Format()) is in the past") }
        }
        if move.state == .resolved, move.resolutionCode == nil { throw PortalError.invalid("resolutionCode: say how it was resolved (\(ResolutionCode.allCases.map(\.rawValue).joined(separator: ", ")))") }
        if let notes = move.notes { try Self.checkText(notes, "notes", 0...20_000) }
        let closeAfter = try settings(in: organizationID).closeAfterDays
        return try await write(id, in: organizationID, actor: principal) { [self] change, _ in
            let incident = change.incident
            let reporterMove = incident.reporterID == principal.user.id && incident.state == .resolved && [.closed, .inProgress].contains(move.state)
            guard principal.has(.incidentsWork) || reporterMove else {
                throw PortalError.forbidden("moving incidents needs the incidents:work permission (a reporter may close or re-open their own resolved incident)")
            }
            try incident.state.check(moveTo: move.state)
            try transition(&change, to: move, now: now, closeAfterDays: closeAfter)
        }
    }

    /// The state change and what goes with it: clocks, timers, fields, the timeline.
    private func transition(_ change: inout Change, to move: IncidentMove, now: Date, closeAfterDays: Int) throws {
        let from = change.incident.state
        change.incident.state = move.state
        change.note(.state, field: "state", old: from.rawValue, new: move.state.rawValue, text: move.reason ?? move.notes)
        change.incident.pendingReason = nil
        change.incident.pendingUntil = nil
        switch move.state {
        case .inProgress:
            if change.incident.firstResponseAt == nil { try respond(&change, at: now) }
            for index in change.incident.slas.indices { try change.incident.slas[index].resume(at: now) }
            if from == .resolved {
                change.incident.resolvedAt = nil
                change.incident.resolutionCode = nil
                change.incident.resolutionNotes = nil
            }
        case .pending:
            change.incident.pendingReason = move.reason
            change.incident.pendingUntil = move.until
            for index in change.incident.slas.indices { try change.incident.slas[index].pause(at: now) }
            if let until = move.until {
                change.timers.append(JobRequest(kind: Self.pendingJob, payload: try JSONAny(encoding: TimerPayload(organizationID: change.incident.organizationID, incidentID: change.incident.id, due: until)),
                                                idempotencyKey: "incident-pending:\(change.incident.id):\(Int64(until.timeIntervalSince1970 * 1000))", dueAt: until))
            }
        case .resolved:
            if change.incident.firstResponseAt == nil { try respond(&change, at: now) }
            for index in change.incident.slas.indices { try change.incident.slas[index].stop(at: now) }
            change.incident.resolvedAt = now
            change.incident.resolutionCode = move.resolutionCode
            change.incident.resolutionNotes = move.notes
            if closeAfterDays > 0 {
                let due = now.addingTimeInterval(Double(closeAfterDays) * 86_400)
                change.timers.append(JobRequest(kind: Self.closeJob, payload: try JSONAny(encoding: TimerPayload(organizationID: change.incident.organizationID, incidentID: change.incident.id, due: now)),
                                                idempotencyKey: "incident-close:\(change.incident.id):\(Int64(now.timeIntervalSince1970 * 1000))", dueAt: due))
            }
        case .closed:
            change.incident.closedAt = now
        case .new:
            break
        }
        change.events.append((move.state == .resolved ? .incidentResolved : .incidentStateChanged, "\(from.rawValue) → \(move.state.rawValue)"))
    }

    /// The first response: its clocks stop.
    private func respond(_ change: inout Change, at now: Date) throws {
        change.incident.firstResponseAt = now
        for index in change.incident.slas.indices where change.incident.slas[index].target == .firstResponse {
            try change.incident.slas[index].stop(at: now)
        }
    }

    /// Adds a comment. Internal comments need incidents:work; a public comment by someone on the
    /// team other than the reporter is the first response.
    public func comment(_ id: TimeOrderedID, text: String, internal isInternal: Bool, by principal: Principal) async throws -> Incident {
        let organizationID = try Self.organization(of: principal, needing: .incidentsReport)
        try Self.checkText(text.trimmed, "text", 1...20_000)
        let now = clock.now()
        return try await write(id, in: organizationID, actor: principal) { [self] change, _ in
            let team = principal.has(.incidentsWork)
            guard team || change.incident.reporterID == principal.user.id else { throw PortalError.forbidden("commenting needs the incidents:work permission, or being the reporter") }
            guard !isInternal || team else { throw PortalError.forbidden("internal comments need the incidents:work permission") }
            guard change.incident.state != .closed else { throw PortalError.conflict("a closed incident takes no comments") }
            change.note(.comment, text: text, isInternal: isInternal)
            if team, !isInternal, change.incident.reporterID != principal.user.id, change.incident.firstResponseAt == nil { try respond(&change, at: now) }
            change.events.append((.incidentCommented, isInternal ? "internal" : "public"))
        }
    }

    /// Links a tool run, a workflow run or a conversation (incidents:work).
    public func link(_ id: TimeOrderedID, _ link: IncidentLink, by principal: Principal) async throws -> Incident {
        let organizationID = try Self.organization(of: principal, needing: .incidentsWork)
        guard (1...64).contains(link.id.count) else { throw PortalError.invalid("id: 1 to 64 characters") }
        return try await write(id, in: organizationID, actor: principal) { change, _ in
            guard !change.incident.links.contains(link) else { return }
            guard change.incident.links.count < 200 else { throw PortalError.conflict("an incident has at most 200 links") }
            change.incident.links.append(link)
            change.note(.link, field: link.kind.rawValue, new: link.id)
            change.events.append((.incidentUpdated, "linked \(link.kind.rawValue) \(link.id)"))
        }
    }

    // MARK: Timers

    /// A timer's moment: an SLA warning or breach (announced once, and only when the clock
    /// still runs toward that instant, with its escalations), a pending date (back to in
    /// progress), the close.
    func fire(_ timer: TimerPayload) async throws {
        let settings = try settings(in: timer.organizationID)
        let assignees = try escalationAssignees(timer)
        do {
            _ = try await write(timer.incidentID, in: timer.organizationID, actor: nil) { [self] change, _ in
                let now = change.now
                if let index = timer.clock, let warning = timer.warning {
                    guard index < change.incident.slas.count else { return }
                    let sla = change.incident.slas[index]
                    let tag = (warning ? "w" : "b") + "\(index)"
                    guard sla.state == .running, !change.incident.announced.contains(tag), (warning ? sla.warnAt : sla.dueAt) == timer.due else { return }
                    change.incident.announced.append(tag)
                    let what = "\(sla.target.rawValue) SLA \(sla.sla) v\(sla.slaVersion)" + (warning ? " reached \(sla.warnAtPercent ?? 0)%" : " breached")
                    change.note(.sla, field: sla.target.rawValue, text: what)
                    change.events.append((warning ? .incidentSLAWarning : .incidentSLABreached, what))
                    escalate(&change, sla.escalations(at: warning ? .warning : .breach), because: what, assignees: assignees, matrix: settings.matrix)
                } else if change.incident.state == .pending, change.incident.pendingUntil == timer.due {
                    try transition(&change, to: IncidentMove(state: .inProgress, reason: "the pending date was reached"), now: now, closeAfterDays: settings.closeAfterDays)
                } else if change.incident.state == .resolved, change.incident.resolvedAt == timer.due {
                    try transition(&change, to: IncidentMove(state: .closed, notes: "closed \(settings.closeAfterDays) days after it was resolved"), now: now,
                                   closeAfterDays: settings.closeAfterDays)
                }
            }
        } catch PortalError.notFound {
            return
        }
    }

    /// The members an SLA timer's escalations assign to, by name (`nil`: no longer a member),
    /// read before the write.
    private func escalationAssignees(_ timer: TimerPayload) throws -> [String: User?] {
        guard let index = timer.clock, let warning = timer.warning, let incident = try incident(timer.incidentID, in: timer.organizationID),
              index < incident.slas.count else { return [:] }
        var found: [String: User?] = [:]
        for name in incident.slas[index].escalations(at: warning ? .warning : .breach).compactMap(\.assignee) {
            found[name] = try memberIfAny(named: name, in: timer.organizationID)
        }
        return found
    }

    /// Applies escalations: reassignment, a group, a higher priority (by one more step of
    /// urgency, then impact, so the matrix still holds), each on the timeline as the portal's.
    private func escalate(_ change: inout Change, _ escalations: [SLAEscalation], because reason: String, assignees: [String: User?], matrix: PriorityMatrix) {
        guard !escalations.isEmpty else { return }
        let before = change.entries.count
        for escalation in escalations {
            if let name = escalation.assignee {
                if let user = assignees[name] ?? nil {
                    change.set("assignee", \.assigneeName, to: user.username, shown: { $0 })
                    change.incident.assigneeID = user.id
                } else {
                    change.note(.sla, text: "\(reason): not assigned to '\(name)', who is no longer a member", isInternal: true)
                }
            }
            if let group = escalation.group { change.set("group", \.group, to: group, shown: { $0 }) }
            if escalation.raisePriority == true {
                if let urgency = change.incident.urgency.raised {
                    change.set("urgency", \.urgency, to: urgency, shown: { $0.rawValue })
                } else if let impact = change.incident.impact.raised {
                    change.set("impact", \.impact, to: impact, shown: { $0.rawValue })
                }
                change.set("priority", \.priority, to: matrix.priority(impact: change.incident.impact, urgency: change.incident.urgency), shown: { "P\($0)" })
            }
        }
        let fields = change.entries[before...].compactMap(\.field)
        if !fields.isEmpty { change.events.append((.incidentUpdated, "escalated (\(reason)): \(fields.joined(separator: ", "))")) }
    }
}

extension String {
    /// Without leading and trailing white space (new lines too).
    var trimmed: String { String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
}
