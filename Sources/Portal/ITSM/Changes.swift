public import FoundationEssentials
public import KV

/// A change's fields that may still change before it holds its window (new, or assess).
public struct ChangeUpdate: Codable, Sendable {
    public var title: String?
    public var description: String?
    public var risk: Level?
    public var impact: Level?
    public var assets: [String]?
    public var windowStart: Date?
    public var windowEnd: Date?
    public var implementationWorkflow: String?
    public var backoutPlan: String?

    public init(title: String? = nil, description: String? = nil, risk: Level? = nil, impact: Level? = nil, assets: [String]? = nil, windowStart: Date? = nil,
                windowEnd: Date? = nil, implementationWorkflow: String? = nil, backoutPlan: String? = nil) {
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

/// The changes whose planned window begins in a period, by how they ended.
public struct ChangeFigures: Codable, Sendable, Equatable {
    public let planned: Int
    public let successful: Int
    public let failed: Int
    public let backedOut: Int
    /// Successful of those with an outcome, in percent.
    public let successRate: Double?
}

/// Change management: changes on the path of their type, CAB authorization (all of the
/// named approvers or any one, or enough members with a role; nobody approves their own; a
/// rejection sends the change back to assess with the reason), planned windows that may not
/// overlap another change's on the same configuration item nor (except emergencies) a freeze
/// window, the implementation as a workflow run, and the review. Every change is one
/// transaction with its `change.*` event and audit entry; the windows held are indexed by
/// item, so a conflict check reads only the changes on the same items.
public final class Changes: Sendable {
    let environment: Environment
    let table: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<Change>>
    let numbers: Table<Key<UUID>, JSONValue<Int>>
    let settingsTable: Table<Key<UUID>, JSONValue<ChangeSettings>>
    let templates: Table<CompositeKey<UUID, String>, JSONValue<ChangeTemplate>>
    /// (organization, item, change) → the change's window, while it holds it.
    let windows: Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<[Date]>>
    /// (organization, UTC day of the window's start, change), for the dashboard.
    let byStartDay: Table<CompositeKey3<UUID, UInt64, TimeOrderedID>, JSONValue<String>>
    /// (organization, item, id): the changes on a configuration item.
    let byAsset: Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<String>>
    let assets: Assets
    let workflows: Workflows
    let outbox: Outbox
    let clock: any WallClock

    init(environment: Environment, assets: Assets, workflows: Workflows, outbox: Outbox, clock: any WallClock) throws {
        self.environment = environment
        self.assets = assets
        self.workflows = workflows
        self.outbox = outbox
        self.clock = clock
        table = try environment.table("changes", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<Change>.self)
        numbers = try environment.table("change_numbers", key: Key<UUID>.self, value: JSONValue<Int>.self)
        settingsTable = try environment.table("change_settings", key: Key<UUID>.self, value: JSONValue<ChangeSettings>.self)
        templates = try environment.table("change_templates", key: CompositeKey<UUID, String>.self, value: JSONValue<ChangeTemplate>.self)
        windows = try environment.table("change_windows", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<[Date]>.self)
        byStartDay = try environment.table("changes_by_start", key: CompositeKey3<UUID, UInt64, TimeOrderedID>.self, value: JSONValue<String>.self)
        byAsset = try Self.assetIndex(environment)
    }

    static func assetIndex(_ environment: Environment) throws -> Table<CompositeKey3<UUID, String, TimeOrderedID>, JSONValue<String>> {
        try environment.table("changes_by_asset", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<String>.self)
    }

    /// Schema step 3: the changes on each configuration item, indexed.
    static func indexByAsset(_ environment: Environment) throws -> Migration {
        let changes = try environment.table("changes", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<Change>.self)
        let byAsset = try assetIndex(environment)
        return Migration(3, "changes by configuration item") { txn in
            var found: [Change] = []
            try txn.forEach(changes) { (_, change) throws(KVError) in found.append(change); return true }
            for change in found {
                for item in change.assets { try txn.put(byAsset, (change.organizationID, item, change.id), "") }
            }
        }
    }

    /// The changes on a configuration item, newest first.
    public func changes(onAsset name: String, in organizationID: UUID, limit: Int = 50) throws -> [Change] {
        try environment.read { txn in
            var found: [Change] = []
            try txn.forEach(byAsset, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, name), direction: .reverse) { (key, _) throws(KVError) in
                if let change = try txn.get(table, (organizationID, key.2)) { found.append(change) }
                return found.count < limit
            }
            return found
        }
    }

    // MARK: Settings and templates

    public func settings(in organizationID: UUID) throws -> ChangeSettings {
        try environment.read { txn in try txn.get(settingsTable, organizationID) } ?? .standard
    }

    public func saveSettings(_ settings: ChangeSettings, by principal: Principal) async throws {
        let organizationID = try Incidents.organization(of: principal, needing: .itsmManage)
        try settings.normalCAB.check()
        try settings.emergencyCAB.check()
        guard settings.freezes.count <= 100 else { throw PortalError.invalid("freezes: at most 100") }
        for freeze in settings.freezes {
            guard freeze.start < freeze.end else { throw PortalError.invalid("freezes: '\(freeze.reason.prefix(64))' ends before it starts") }
            try Incidents.checkText(freeze.reason, "freezes[].reason", 1...200)
        }
        try await environment.write { [settingsTable] txn in try txn.put(settingsTable, organizationID, settings) }
    }

    public func templates(in organizationID: UUID) throws -> [ChangeTemplate] {
        try environment.read { txn in
            var found: [ChangeTemplate] = []
            try txn.forEach(templates, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, template) throws(KVError) in
                found.append(template)
                return found.count < 1000
            }
            return found
        }
    }

    public func saveTemplate(_ template: ChangeTemplate, by principal: Principal) async throws {
        let organizationID = try Incidents.organization(of: principal, needing: .itsmManage)
        guard Incidents.isValidName(template.name) else { throw PortalError.invalid("name: 1 to 64 lower-case letters, digits and '-', starting with a letter") }
        try Incidents.checkText(template.title.trimmed, "title", 1...200)
        try Incidents.checkText(template.description ?? "", "description", 0...20_000)
        try Incidents.checkText(template.backoutPlan ?? "", "backoutPlan", 0...20_000)
        if let workflow = template.implementationWorkflow { guard Workflows.isValidName(workflow) else { throw PortalError.invalid("implementationWorkflow: not a workflow name") } }
        try await environment.write { [templates] txn in
            if try txn.get(templates, (organizationID, template.name)) == nil {
                var count = 0
                try txn.forEach(templates, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, _) throws(KVError) in count += 1; return true }
                guard count < 100 else { throw PortalError.conflict("an organization has at most 100 change templates") }
            }
            try txn.put(templates, (organizationID, template.name), template)
        }
    }

    // MARK: Reading

    public func change(_ id: TimeOrderedID, in organizationID: UUID) throws -> Change? {
        try environment.read { txn in try txn.get(table, (organizationID, id)) }
    }

    /// Changes newest first, in `state` when given.
    public func list(in organizationID: UUID, state: ChangeState? = nil, limit: Int = 50, before cursor: TimeOrderedID? = nil) throws -> [Change] {
        try environment.read { txn in
            var found: [Change] = []
            let prefix = CompositeKey<UUID, TimeOrderedID>.prefix(organizationID)
            try txn.forEach(table, prefix: prefix, direction: .reverse) { (key, change) throws(KVError) in
                guard cursor.map({ key.1 < $0 }) ?? true else { return true }
                if state == nil || change.state == state { found.append(change) }
                return found.count < limit
            }
            return found
        }
    }

    /// The other changes holding a window on one of `items` that overlaps `start ..< end`.
    @available(*, noasync)
    func conflicts<T: ReadableTransaction & ~Copyable>(with change: Change, txn: borrowing T) throws -> [TimeOrderedID] {
        guard let start = change.windowStart, let end = change.windowEnd else { return [] }
        var found: Set<TimeOrderedID> = []
        for item in change.assets {
            try txn.forEach(windows, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(change.organizationID, item)) { (key, window) throws(KVError) in
                if key.2 != change.id, window.count == 2, window[0] < end, start < window[1] { found.insert(key.2) }
                return true
            }
        }
        return found.sorted()
    }

    /// The references of the other changes whose held windows overlap this one's on the same items.
    public func conflicts(of change: Change) throws -> [String] {
        try environment.read { txn in
            try conflicts(with: change, txn: txn).compactMap { try txn.get(table, (change.organizationID, $0))?.reference }
        }
    }

    /// The planned windows of changes starting in `from ..< to`, by outcome.
    public func figures(in organizationID: UUID, from: Date, to: Date) throws -> ChangeFigures {
        try environment.read { txn in
            var planned = 0, successful = 0, failed = 0, backedOut = 0
            try txn.forEach(byStartDay, from: (organizationID, Incidents.day(from), TimeOrderedID.lowest), to: (organizationID, Incidents.day(to.addingTimeInterval(-1)) + 1, TimeOrderedID.lowest)) { (key, _) throws(KVError) in
                guard let change = try txn.get(table, (organizationID, key.2)), change.state != .cancelled else { return true }
                planned += 1
                switch change.outcome {
                case .successful: successful += 1
                case .failed: failed += 1
                case .backedOut: backedOut += 1
                case nil: break
                }
                return true
            }
            let ended = successful + failed + backedOut
            return ChangeFigures(planned: planned, successful: successful, failed: failed, backedOut: backedOut,
                                 successRate: ended == 0 ? nil : Double(successful) / Double(ended) * 100)
        }
    }

    // MARK: Changing

    @available(*, noasync)
    private func commit(_ change: Change, previous: Change?, event: (EventKind, String)?, actor: Principal?, now: Date, txn: borrowing WriteTransaction) throws -> Change {
        var change = change
        change.updatedAt = now
        if change.history.count > 500 { change.history.removeFirst(change.history.count - 500) }
        try txn.put(table, (change.organizationID, change.id), change)
        // The windows it holds on its items.
        if let previous, previous.state.holdsWindow {
            for item in previous.assets { _ = try txn.delete(windows, (change.organizationID, item, change.id)) }
        }
        if change.state.holdsWindow, let start = change.windowStart, let end = change.windowEnd {
            for item in change.assets { try txn.put(windows, (change.organizationID, item, change.id), [start, end]) }
        }
        if let start = previous?.windowStart, start != change.windowStart {
            _ = try txn.delete(byStartDay, (change.organizationID, Incidents.day(start), change.id))
        }
        if let start = change.windowStart, start != previous?.windowStart { try txn.put(byStartDay, (change.organizationID, Incidents.day(start), change.id), "") }
        if previous?.assets != change.assets {
            for item in previous?.assets ?? [] { _ = try txn.delete(byAsset, (change.organizationID, item, change.id)) }
            for item in change.assets { try txn.put(byAsset, (change.organizationID, item, change.id), "") }
        }
        if let (kind, detail) = event {
            try outbox.record(.change(ChangeEvent(kind: kind, changeID: change.id, number: change.number, type: change.type, state: change.state,
                                                  actorID: actor?.user.id, detail: String(detail.prefix(500)))),
                              organizationID: change.organizationID, time: now,
                              audit: AuditEntry(time: now, organizationID: change.organizationID, principal: actor?.id, principalName: actor?.user.username,
                                                kind: kind.rawValue, outcome: change.state.rawValue, detail: "\(change.reference)" + (detail.isEmpty ? "" : ": \(detail.prefix(500))")),
                              in: txn)
        }
        return change
    }

    private func write(_ id: TimeOrderedID, in organizationID: UUID, actor: Principal,
                       _ body: @escaping @Sendable (inout Change, Date, borrowing WriteTransaction) throws -> (EventKind, String)?) async throws -> Change {
        let now = clock.now()
        return try await environment.write { [self] txn in
            guard let previous = try txn.get(table, (organizationID, id)) else { throw PortalError.notFound("change") }
            var change = previous
            let event = try body(&change, now, txn)
            return try commit(change, previous: previous, event: event, actor: actor, now: now, txn: txn)
        }
    }

    /// The items' names checked against the CMDB (read before a write).
    private func checkAssets(_ names: [String], in organizationID: UUID) throws -> [String] {
        guard names.count <= 50 else { throw PortalError.invalid("assets: at most 50") }
        for name in names where try assets.asset(name, in: organizationID) == nil {
            throw PortalError.invalid("assets: no configuration item '\(name.prefix(64))'")
        }
        return Array(Set(names)).sorted()
    }

    static func checkWindow(_ start: Date?, _ end: Date?) throws {
        guard let start, let end else { return }
        guard start < end else { throw PortalError.invalid("windowEnd: the window ends before it starts") }
        guard end.timeIntervalSince(start) <= 30 * 86_400 else { throw PortalError.invalid("windowEnd: a window is at most 30 days") }
    }

    /// Opens a change (changes:request). A standard change follows a template; the others
    /// take the organization's CAB for their type.
    public func open(_ draft: ChangeDraft, by principal: Principal) async throws -> Change {
        let organizationID = try Incidents.organization(of: principal, needing: .changesRequest)
        var template: ChangeTemplate?
        if draft.type == .standard {
            guard let name = draft.template else { throw PortalError.invalid("template: a standard change follows a pre-approved template") }
            guard let found = try environment.read({ txn in try txn.get(templates, (organizationID, name)) }) else {
                throw PortalError.invalid("template: no template '\(name.prefix(64))'")
            }
            template = found
        } else if draft.template != nil {
            throw PortalError.invalid("template: only standard changes follow a template")
        }
        let title = (draft.title ?? template?.title ?? "").trimmed
        try Incidents.checkText(title, "title", 1...200)
        try Incidents.checkText(draft.description ?? "", "description", 0...20_000)
        try Incidents.checkText(draft.backoutPlan ?? "", "backoutPlan", 0...20_000)
        if let workflow = draft.implementationWorkflow { guard Workflows.isValidName(workflow) else { throw PortalError.invalid("implementationWorkflow: not a workflow name") } }
        try Self.checkWindow(draft.windowStart, draft.windowEnd)
        let items = try checkAssets(draft.assets ?? [], in: organizationID)
        let settings = try settings(in: organizationID)
        let now = clock.now()
        return try await environment.write { [self, template] txn in
            let number = (try txn.get(numbers, organizationID) ?? 0) + 1
            try txn.put(numbers, organizationID, number)
            let change = Change(id: TimeOrderedID.generate(now: now), organizationID: organizationID, number: number, type: draft.type, template: template?.name,
                                title: title, description: draft.description ?? template?.description ?? "", risk: draft.risk ?? .low, impact: draft.impact ?? .low,
                                assets: items, windowStart: draft.windowStart, windowEnd: draft.windowEnd,
                                implementationWorkflow: draft.implementationWorkflow ?? template?.implementationWorkflow, implementationRunID: nil,
                                backoutPlan: draft.backoutPlan ?? template?.backoutPlan ?? "", state: .new,
                                cab: draft.type == .standard ? nil : (draft.type == .emergency ? settings.emergencyCAB : settings.normalCAB),
                                decisions: [], rejection: nil, outcome: nil, review: nil, requesterID: principal.user.id, requesterName: principal.user.username,
                                createdAt: now, updatedAt: now, history: ["\(now.ISO8601Format()) \(principal.user.username) opened it"])
            return try commit(change, previous: nil, event: (.changeOpened, title), actor: principal, now: now, txn: txn)
        }
    }

    /// Changes what may still change: while new, or in assess.
    public func update(_ id: TimeOrderedID, _ update: ChangeUpdate, by principal: Principal) async throws -> Change {
        let organizationID = try Incidents.organization(of: principal, needing: .changesRequest)
        if let title = update.title { try Incidents.checkText(title.trimmed, "title", 1...200) }
        try Incidents.checkText(update.description ?? "", "description", 0...20_000)
        try Incidents.checkText(update.backoutPlan ?? "", "backoutPlan", 0...20_000)
        if let workflow = update.implementationWorkflow, !workflow.isEmpty { guard Workflows.isValidName(workflow) else { throw PortalError.invalid("implementationWorkflow: not a workflow name") } }
        let items = try update.assets.map { try checkAssets($0, in: organizationID) }
        return try await write(id, in: organizationID, actor: principal) { change, _, _ in
            guard change.state == .new || change.state == .assess else {
                throw PortalError.conflict("a change in \(change.state.rawValue) no longer changes; only while new or in assess")
            }
            if let title = update.title { change.title = title.trimmed }
            if let description = update.description { change.description = description }
            if let risk = update.risk { change.risk = risk }
            if let impact = update.impact { change.impact = impact }
            if let items { change.assets = items }
            if let start = update.windowStart { change.windowStart = start }
            if let end = update.windowEnd { change.windowEnd = end }
            try Self.checkWindow(change.windowStart, change.windowEnd)
            if let workflow = update.implementationWorkflow { change.implementationWorkflow = workflow.isEmpty ? nil : workflow }
            if let backout = update.backoutPlan { change.backoutPlan = backout }
            return (.changeUpdated, "")
        }
    }

    /// Moves a change by hand (changes:request). Holding a window (authorize, or a standard
    /// change's scheduled) needs one that overlaps no other change on the same items and, but
    /// for emergencies, no freeze. Implement starts the implementation workflow; review needs
    /// the outcome, closed the post-implementation review.
    public func move(_ id: TimeOrderedID, _ move: ChangeMove, by principal: Principal) async throws -> Change {
        let organizationID = try Incidents.organization(of: principal, needing: .changesRequest)
        try Incidents.checkText(move.notes ?? "", "notes", 0...20_000)
        let freezes = try settings(in: organizationID).freezes
        let moved = try await write(id, in: organizationID, actor: principal) { [self] change, now, txn in
            try change.type.check(from: change.state, to: move.state)
            let from = change.state
            if move.state.holdsWindow {
                guard let start = change.windowStart, let end = change.windowEnd else {
                    throw PortalError.conflict("\(change.reference) needs a planned window (windowStart, windowEnd) before \(move.state.rawValue)")
                }
                if change.type != .emergency, let freeze = freezes.first(where: { $0.start < end && start < $0.end }) {
                    throw PortalError.conflict("the window falls in the freeze '\(freeze.reason)' (\(freeze.start.ISO8601Format()) to \(freeze.end.ISO8601Format())); only emergency changes go ahead in a freeze")
                }
                let clashes = try conflicts(with: change, txn: txn)
                if !clashes.isEmpty {
                    let references = try clashes.compactMap { try txn.get(table, (organizationID, $0))?.reference }
                    throw PortalError.conflict("the window overlaps \(references.joined(separator: ", ")) on the same configuration items")
                }
            }
            switch move.state {
            case .authorize: change.decisions = []
            case .review:
                guard let outcome = move.outcome else { throw PortalError.invalid("outcome: say how the implementation went (successful, failed, backed-out)") }
                change.outcome = outcome
            case .closed:
                guard let notes = move.notes, !notes.trimmed.isEmpty else { throw PortalError.invalid("notes: a change closes with its post-implementation review") }
                change.review = notes
            default: break
            }
            change.state = move.state
            change.history.append("\(now.ISO8601Format()) \(principal.user.username) moved it from \(from.rawValue) to \(move.state.rawValue)"
                                  + (move.outcome.map { " (\($0.rawValue))" } ?? "") + (move.notes.map { ": \($0.prefix(500))" } ?? ""))
            return (.changeStateChanged, "\(from.rawValue) → \(move.state.rawValue)")
        }
        guard moved.state == .implement, let workflow = moved.implementationWorkflow else { return moved }
        // The implementation: a workflow run as the person who moved it, linked to the change.
        let note: String
        var runID: TimeOrderedID?
        do {
            let run = try await workflows.start(workflow, inputs: .object(["change": .string(moved.reference), "changeID": .string(moved.id.description)]), by: principal)
            runID = run.id
            note = "started the implementation workflow \(workflow) (run \(run.id))"
        } catch {
            note = "could not start the implementation workflow \(workflow): \(error)"
        }
        return try await write(id, in: organizationID, actor: principal) { [runID] change, now, _ in
            change.implementationRunID = runID
            change.history.append("\(now.ISO8601Format()) \(principal.user.username) \(note)")
            return (.changeUpdated, note)
        }
    }

    /// A CAB member's decision on a change waiting for authorization: approvals schedule it
    /// once the policy is met; a rejection sends it back to assess with the reason.
    /// The changes waiting for this member's CAB decision: in authorize, on a CAB they are on,
    /// not their own, not yet decided by them; oldest first.
    public func awaitingDecision(by principal: Principal) throws -> [Change] {
        guard let organizationID = principal.organizationID else { return [] }
        return try list(in: organizationID, state: .authorize, limit: 500).filter { change in
            change.cab?.mayDecide(principal) == true && change.requesterID != principal.user.id
                && !change.decisions.contains { $0.approverID == principal.user.id }
        }.reversed()
    }

    public func decide(_ id: TimeOrderedID, approve: Bool, comment: String, by principal: Principal) async throws -> Change {
        let organizationID = try Incidents.organization(of: principal, needing: .incidentsReport)
        try Incidents.checkText(comment, "comment", 0...2000)
        if !approve, comment.trimmed.isEmpty { throw PortalError.invalid("comment: a rejection says why") }
        return try await write(id, in: organizationID, actor: principal) { change, now, _ in
            guard change.state == .authorize, let cab = change.cab else { throw PortalError.conflict("\(change.reference) is not waiting for the CAB (it is \(change.state.rawValue))") }
            guard change.requesterID != principal.user.id else { throw PortalError.forbidden("nobody approves their own change") }
            guard cab.mayDecide(principal) else { throw PortalError.forbidden("you are not on the CAB for this change") }
            guard !change.decisions.contains(where: { $0.approverID == principal.user.id }) else { throw PortalError.conflict("you have already decided on \(change.reference)") }
            change.decisions.append(CABDecision(approverID: principal.user.id, approverName: principal.user.username, approve: approve, comment: comment, time: now))
            change.history.append("\(now.ISO8601Format()) \(principal.user.username) \(approve ? "approved" : "rejected") it" + (comment.isEmpty ? "" : ": \(comment.prefix(500))"))
            if !approve {
                change.state = .assess
                change.rejection = comment
                return (.changeDecided, "rejected by \(principal.user.username): \(comment)")
            }
            if change.decisions.filter(\.approve).count >= cab.needed {
                change.state = .scheduled
                change.rejection = nil
                return (.changeDecided, "authorized")
            }
            return (.changeDecided, "approved by \(principal.user.username)")
        }
    }
}
