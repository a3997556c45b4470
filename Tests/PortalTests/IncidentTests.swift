import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// Incidents on a clock the test moves: priority from the matrix, the state machine through
/// the service, SLA clocks that pause while pending, warnings and breaches announced once,
/// the pending date and the automatic close, comments for the team only, the timeline.
@Suite struct IncidentTests {
    static func at(_ text: String) -> Date { ITSMRulesTests.at(text) }

    struct World {
        let base: WorkflowTests.World
        let clock: ManualClock
        let reporter: Principal

        init() async throws {
            // Monday, 16:00 UTC.
            clock = ManualClock(IncidentTests.at("2026-11-30T16:00:00Z"))
            base = try await WorkflowTests.World(clock: clock)
            let root = try #require(try base.core.accounts.user(named: "root"))
            let rootPrincipal = Principal(user: root, organizationID: base.organization.id, role: .admin, sessionKey: nil, csrfToken: nil)
            var vera = try base.core.accounts.user(named: "vera")
            if vera == nil {
                vera = try await base.core.organizations.createMember(username: "vera", displayName: "Vera", password: "vera-password-1", role: .viewer,
                                                                      in: base.organization.id, by: rootPrincipal)
            }
            reporter = Principal(user: vera!, organizationID: base.organization.id, role: .viewer, sessionKey: nil, csrfToken: nil)
            try await incidents.saveCalendar(.weekdays("office"), by: base.admin)
            try await incidents.saveSLA(SLADefinition(name: "urgent", priorities: [1, 2], calendar: "office", firstResponseMinutes: 120, resolutionMinutes: 480),
                                        by: base.admin)
        }

        var incidents: Incidents { base.core.incidents }
        var organizationID: UUID { base.organization.id }

        func reload(_ incident: Incident) throws -> Incident { try #require(try incidents.incident(incident.id, in: organizationID)) }

        /// What the timer queued for `key` (its due time), as the job runner would see it.
        func timerDue(_ key: String) throws -> Date? {
            try base.core.jobs.job(idempotencyKey: key).flatMap { $0.state.isFinal ? nil : $0.dueAt }
        }

        func events(_ kind: EventKind) throws -> [IncidentEvent] {
            try base.core.outbox.entries(after: 0, limit: 10_000).compactMap { entry in
                if case let .incident(event) = entry.event, event.kind == kind { event } else { nil }
            }
        }
    }

    @Test func anIncidentGetsItsPriorityFromTheMatrixAndTheSLAsThatMatch() async throws {
        let world = try await World()
        let urgent = try await world.incidents.open(IncidentDraft(title: "db-7 is down", impact: .high, urgency: .high, service: "billing-db"), by: world.reporter)
        #expect(urgent.priority == 1 && urgent.number == 1 && urgent.reference == "INC-1" && urgent.state == .new && urgent.reporterName == "vera")
        #expect(urgent.slas.map(\.target) == [.firstResponse, .resolution])
        // 16:00 Monday with the day ending at 17:00: 2 h → Tuesday 10:00; 8 h → Tuesday 16:00.
        #expect(urgent.slas.map(\.dueAt) == [Self.at("2026-12-01T10:00:00Z"), Self.at("2026-12-01T16:00:00Z")])
        #expect(try world.timerDue("incident-sla:\(urgent.id):0:b:\(Int64(Self.at("2026-12-01T10:00:00Z").timeIntervalSince1970 * 1000))")
                == Self.at("2026-12-01T10:00:00Z"), "the breach is a durable timer")
        let minor = try await world.incidents.open(IncidentDraft(title: "typo on the status page", impact: .low, urgency: .low), by: world.reporter)
        #expect(minor.priority == 5 && minor.number == 2 && minor.slas.isEmpty)
        // A reporter may not assign; an unknown assignee is refused.
        await #expect(throws: PortalError.self) {
            try await world.incidents.open(IncidentDraft(title: "x", impact: .low, urgency: .low, assignee: "olga"), by: world.reporter)
        }
        await #expect(throws: PortalError.invalid("assignee: 'nobody' is not a member of this organization")) {
            try await world.incidents.open(IncidentDraft(title: "x", impact: .low, urgency: .low, assignee: "nobody"), by: world.base.operator_)
        }
        #expect(try world.incidents.counts(in: world.organizationID)[.new] == [1: 1, 5: 1])
        #expect(try world.events(.incidentOpened).map(\.number) == [1, 2])
    }

    @Test func movesFollowTheStateMachineWithWhatEachStateNeeds() async throws {
        let world = try await World()
        let incident = try await world.incidents.open(IncidentDraft(title: "slow API", impact: .medium, urgency: .medium), by: world.reporter)
        let olga = world.base.operator_
        await #expect(throws: PortalError.conflict("an incident cannot go from new to closed; from new it can go to: in-progress, pending, resolved")) {
            try await world.incidents.move(incident.id, IncidentMove(state: .closed), by: olga)
        }
        await #expect(throws: PortalError.self) { try await world.incidents.move(incident.id, IncidentMove(state: .pending), by: olga) }
        await #expect(throws: PortalError.self) {
            try await world.incidents.move(incident.id, IncidentMove(state: .pending, reason: "vendor", until: world.clock.now().addingTimeInterval(-60)), by: olga)
        }
        await #expect(throws: PortalError.self) { try await world.incidents.move(incident.id, IncidentMove(state: .resolved), by: olga) }
        await #expect(throws: PortalError.self) { try await world.incidents.move(incident.id, IncidentMove(state: .inProgress), by: world.reporter) }
        _ = try await world.incidents.move(incident.id, IncidentMove(state: .inProgress), by: olga)
        let resolved = try await world.incidents.move(incident.id, IncidentMove(state: .resolved, resolutionCode: .fixed, notes: "restarted"), by: olga)
        #expect(resolved.resolvedAt == world.clock.now() && resolved.resolutionCode == .fixed)
        // The reporter re-opens their own resolved incident, and later closes it.
        let reopened = try await world.incidents.move(incident.id, IncidentMove(state: .inProgress), by: world.reporter)
        #expect(reopened.resolvedAt == nil && reopened.resolutionCode == nil)
        _ = try await world.incidents.move(incident.id, IncidentMove(state: .resolved, resolutionCode: .workaround), by: olga)
        let closed = try await world.incidents.move(incident.id, IncidentMove(state: .closed), by: world.reporter)
        #expect(closed.state == .closed && closed.closedAt != nil)
        await #expect(throws: PortalError.self) { try await world.incidents.update(incident.id, IncidentUpdate(title: "late"), by: olga) }
        await #expect(throws: PortalError.self) { try await world.incidents.comment(incident.id, text: "late", internal: false, by: olga) }
        let states = try world.incidents.timeline(of: incident.id, for: olga).filter { $0.kind == .state }.map { "\($0.old!)>\($0.new!)" }
        #expect(states == ["new>in-progress", "in-progress>resolved", "resolved>in-progress", "in-progress>resolved", "resolved>closed"])
        #expect(try world.incidents.counts(in: world.organizationID)[.closed] == [3: 1])
    }

    @Test func pendingPausesTheClocksAndItsDateBringsTheIncidentBack() async throws {
        let world = try await World()
        let olga = world.base.operator_
        let incident = try await world.incidents.open(IncidentDraft(title: "VPN flaps", impact: .high, urgency: .medium), by: world.reporter)
        #expect(incident.priority == 2 && incident.slas[1].dueAt == Self.at("2026-12-01T16:00:00Z"))
        world.clock.advance(by: .seconds(1800))  // 16:30: the team answers, then waits on the provider until Tuesday 11:00.
        _ = try await world.incidents.move(incident.id, IncidentMove(state: .inProgress), by: olga)
        let until = Self.at("2026-12-01T11:00:00Z")
        let pending = try await world.incidents.move(incident.id, IncidentMove(state: .pending, reason: "waiting for the provider", until: until), by: olga)
        #expect(pending.slas[0].state == .met, "moving to in progress was the first response, at 30 minutes")
        #expect(pending.slas[1].state == .paused && pending.slas[1].elapsedSeconds == 1800)
        #expect(try world.timerDue("incident-pending:\(incident.id):\(Int64(until.timeIntervalSince1970 * 1000))") == until)

        // Tuesday 11:00: the timer brings it back; 7.5 hours of the 8 remain, so Tuesday 18:30
        // would be after hours: Wednesday 10:30.
        world.clock.set(until)
        try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, due: until))
        let back = try world.reload(incident)
        #expect(back.state == .inProgress && back.pendingUntil == nil && back.slas[1].state == .running)
        #expect(back.slas[1].dueAt == Self.at("2026-12-02T10:30:00Z"), "\(String(describing: back.slas[1].dueAt))")
        let last = try #require(try world.incidents.timeline(of: incident.id, for: olga).last)
        #expect(last.actorName == "portal" && last.new == "in-progress" && last.text == "the pending date was reached")
        // The breach timer of before the pause finds the clock moved on: nothing happens.
        try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, clock: 1, warning: false, due: Self.at("2026-12-01T16:00:00Z")))
        #expect(try world.reload(incident).announced.isEmpty)
        // A second run of the pending timer changes nothing either.
        try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, due: until))
        #expect(try world.reload(incident).timelineLength == back.timelineLength)
    }

    @Test func warningsAndBreachesAreAnnouncedOnceEach() async throws {
        let world = try await World()
        let incident = try await world.incidents.open(IncidentDraft(title: "checkout errors", impact: .high, urgency: .high), by: world.reporter)
        let warnAt = try #require(incident.slas[0].warnAt), dueAt = try #require(incident.slas[0].dueAt)
        #expect(warnAt == Self.at("2026-12-01T09:30:00Z"))
        world.clock.set(warnAt)
        for _ in 0..<3 { try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, clock: 0, warning: true, due: warnAt)) }
        world.clock.set(dueAt)
        for _ in 0..<2 { try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, clock: 0, warning: false, due: dueAt)) }
        let announced = try world.reload(incident)
        #expect(announced.announced == ["w0", "b0"])
        #expect(try world.events(.incidentSLAWarning).count == 1 && world.events(.incidentSLABreached).count == 1)
        let slaEntries = try world.incidents.timeline(of: incident.id, for: world.reporter).filter { $0.kind == .sla }
        #expect(slaEntries.map { $0.text ?? "" } == ["first-response SLA urgent v1 reached 75%", "first-response SLA urgent v1 breached"])
        // Answered late: the clock stops as breached.
        world.clock.advance(by: .seconds(60))
        let late = try await world.incidents.comment(incident.id, text: "looking", internal: false, by: world.base.operator_)
        #expect(late.slas[0].state == .breached && late.firstResponseAt == world.clock.now())
    }

    @Test func escalationsReassignAndRaiseThePriorityOnceEachWithTheClocksOwnVersion() async throws {
        let world = try await World()
        let admin = world.base.admin
        let refused: [(SLAEscalation, String)] = [
            (SLAEscalation(at: .breach), "escalations[0]: say what it does (assignee, group or raisePriority)"),
            (SLAEscalation(at: .breach, assignee: "nobody-here"), "escalations[0].assignee: 'nobody-here' is not a member of this organization"),
        ]
        for (escalation, reason) in refused {
            await #expect(throws: PortalError.invalid(reason)) {
                try await world.incidents.saveSLA(SLADefinition(name: "standard", resolutionMinutes: 240, escalations: [escalation]), by: admin)
            }
        }
        await #expect(throws: PortalError.invalid("escalations[0]: at warning, but warnAtPercent 0 turns the warning off")) {
            try await world.incidents.saveSLA(SLADefinition(name: "standard", resolutionMinutes: 240, warnAtPercent: 0, escalations: [SLAEscalation(at: .warning, group: "x")]), by: admin)
        }
        // Warning: to olga and the night group; breach: one step more urgent, and to a member who has left by then.
        let root = try #require(try world.base.core.accounts.user(named: "root"))
        let rootPrincipal = Principal(user: root, organizationID: world.organizationID, role: .admin, sessionKey: nil, csrfToken: nil)
        let leaver = try await world.base.core.organizations.createMember(username: "lena", displayName: "Lena", password: "lena-password-1", role: .operator,
                                                                          in: world.organizationID, by: rootPrincipal)
        try await world.incidents.saveSLA(SLADefinition(name: "standard", priorities: [3, 4, 5], resolutionMinutes: 240, escalations: [
            SLAEscalation(at: .warning, target: .resolution, assignee: "olga", group: "night"),
            SLAEscalation(at: .warning, target: .firstResponse, group: "never-a-first-response-clock"),
            SLAEscalation(at: .breach, assignee: "lena", raisePriority: true),
        ]), by: admin)
        let incident = try await world.incidents.open(IncidentDraft(title: "reports slow", impact: .medium, urgency: .medium, group: "day"), by: world.reporter)
        #expect(incident.priority == 3 && incident.slas.count == 1 && incident.slas[0].escalations?.count == 2)
        // The SLA changes and the member leaves: the running clock keeps what it started with.
        try await world.incidents.saveSLA(SLADefinition(name: "standard", priorities: [3, 4, 5], resolutionMinutes: 240), by: admin)
        try await world.base.core.organizations.setRole(nil, user: leaver.id, in: world.organizationID, by: rootPrincipal)

        let warnAt = try #require(incident.slas[0].warnAt), dueAt = try #require(incident.slas[0].dueAt)
        world.clock.set(warnAt)
        for _ in 0..<2 { try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, clock: 0, warning: true, due: warnAt)) }
        let warned = try world.reload(incident)
        #expect(warned.assigneeName == "olga" && warned.assigneeID == world.base.operator_.user.id && warned.group == "night" && warned.priority == 3)
        world.clock.set(dueAt)
        for _ in 0..<2 { try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, clock: 0, warning: false, due: dueAt)) }
        let breached = try world.reload(incident)
        #expect(breached.urgency == .high && breached.priority == 2 && breached.assigneeName == "olga", "medium/high is P2 by the matrix; lena has left")

        let timeline = try world.incidents.timeline(of: incident.id, for: world.base.operator_).filter { $0.actorName == "portal" }
        #expect(timeline.map { [$0.kind.rawValue, $0.field ?? "", $0.old ?? "", $0.new ?? ""].joined(separator: " ") } == [
            "sla resolution  ", "changed assignee  olga", "changed group day night",
            "sla resolution  ", "sla   ", "changed urgency medium high", "changed priority P3 P2",
        ])
        #expect(timeline[4].text == "resolution SLA standard v1 breached: not assigned to 'lena', who is no longer a member" && timeline[4].isInternal)
        let escalated = try world.events(.incidentUpdated).map(\.detail)
        #expect(escalated == ["escalated (resolution SLA standard v1 reached 75%): assignee, group",
                              "escalated (resolution SLA standard v1 breached): urgency, priority"])
        #expect(try world.events(.incidentUpdated).last?.priority == 2)
    }

    @Test func internalCommentsStayWithTheTeamAndAPublicAnswerIsTheFirstResponse() async throws {
        let world = try await World()
        let olga = world.base.operator_
        let incident = try await world.incidents.open(IncidentDraft(title: "login loop", impact: .high, urgency: .high), by: world.reporter)
        await #expect(throws: PortalError.self) { try await world.incidents.comment(incident.id, text: "secret", internal: true, by: world.reporter) }
        _ = try await world.incidents.comment(incident.id, text: "it loops after the SSO redirect", internal: false, by: world.reporter)
        #expect(try world.reload(incident).firstResponseAt == nil, "the reporter's own comment is not a response")
        world.clock.advance(by: .seconds(600))
        _ = try await world.incidents.comment(incident.id, text: "cookie domain wrong in the new proxy", internal: true, by: olga)
        #expect(try world.reload(incident).firstResponseAt == nil, "an internal note is not a response")
        let answered = try await world.incidents.comment(incident.id, text: "we are on it", internal: false, by: olga)
        #expect(answered.firstResponseAt == world.clock.now() && answered.slas[0].state == .met && answered.slas[0].elapsedSeconds == 600)
        let seenByReporter = try world.incidents.timeline(of: incident.id, for: world.reporter).compactMap(\.text)
        let seenByTeam = try world.incidents.timeline(of: incident.id, for: olga).compactMap(\.text)
        #expect(!seenByReporter.contains("cookie domain wrong in the new proxy") && seenByTeam.contains("cookie domain wrong in the new proxy"))
        #expect(seenByReporter.contains("we are on it"))
    }

    @Test func updatesRecomputeThePriorityAndTheTimelineSaysWhoChangedWhat() async throws {
        let world = try await World()
        let olga = world.base.operator_
        let incident = try await world.incidents.open(IncidentDraft(title: "disk 95%", impact: .low, urgency: .medium), by: world.reporter)
        #expect(incident.priority == 4)
        let changed = try await world.incidents.update(incident.id, IncidentUpdate(impact: .high, assignee: "olga", major: true), by: olga)
        #expect(changed.priority == 2 && changed.assigneeName == "olga" && changed.major)
        let entries = try world.incidents.timeline(of: incident.id, for: olga).filter { $0.kind == .changed }
        #expect(entries.map { "\($0.field!):\($0.old ?? "-")>\($0.new ?? "-")" } == ["impact:low>high", "priority:P4>P2", "major:no>yes", "assignee:->olga"])
        #expect(entries.allSatisfy { $0.actorName == "olga" })
        await #expect(throws: PortalError.self) { try await world.incidents.update(incident.id, IncidentUpdate(title: "x"), by: world.reporter) }
        // Duplicates: not itself, not one that duplicates it, not another organization's.
        let other = try await world.incidents.open(IncidentDraft(title: "disk full again", impact: .low, urgency: .low), by: world.reporter)
        _ = try await world.incidents.update(other.id, IncidentUpdate(duplicateOf: incident.id.description), by: olga)
        await #expect(throws: PortalError.self) { try await world.incidents.update(incident.id, IncidentUpdate(duplicateOf: other.id.description), by: olga) }
        await #expect(throws: PortalError.self) { try await world.incidents.update(incident.id, IncidentUpdate(duplicateOf: incident.id.description), by: olga) }
        // Links to what was done about it.
        let linked = try await world.incidents.link(incident.id, IncidentLink(kind: .workflowRun, id: "01J0000000000000000000000"), by: olga)
        #expect(linked.links == [IncidentLink(kind: .workflowRun, id: "01J0000000000000000000000")])
        #expect(try world.events(.incidentUpdated).count == 3)
    }

    @Test func aResolvedIncidentClosesItselfAfterTheOrganizationsDays() async throws {
        let world = try await World()
        let olga = world.base.operator_
        try await world.incidents.saveSettings(IncidentSettings(matrix: .standard, closeAfterDays: 3), by: world.base.admin)
        await #expect(throws: PortalError.self) { try await world.incidents.saveSettings(.standard, by: olga) }
        let incident = try await world.incidents.open(IncidentDraft(title: "cert expired", impact: .medium, urgency: .high), by: world.reporter)
        let resolved = try await world.incidents.move(incident.id, IncidentMove(state: .resolved, resolutionCode: .fixed), by: olga)
        let resolvedAt = try #require(resolved.resolvedAt)
        #expect(try world.timerDue("incident-close:\(incident.id):\(Int64(resolvedAt.timeIntervalSince1970 * 1000))") == resolvedAt.addingTimeInterval(3 * 86_400))
        world.clock.advance(by: .seconds(3 * 86_400))
        try await world.incidents.fire(.init(organizationID: world.organizationID, incidentID: incident.id, due: resolvedAt))
        #expect(try world.reload(incident).state == .closed)
    }

    @Test func anotherOrganizationSeesNothing() async throws {
        let world = try await World()
        let incident = try await world.incidents.open(IncidentDraft(title: "private", impact: .low, urgency: .low), by: world.reporter)
        let root = try #require(try world.base.core.accounts.user(named: "root"))
        let rootPrincipal = Principal(user: root, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
        let elsewhere = try await world.base.core.organizations.create(slug: "elsewhere", displayName: "Elsewhere", by: rootPrincipal)
        let outsider = Principal(user: world.base.admin.user, organizationID: elsewhere.id, role: .admin, sessionKey: nil, csrfToken: nil)
        #expect(try world.incidents.incident(incident.id, in: elsewhere.id) == nil)
        await #expect(throws: PortalError.notFound("incident")) { try await world.incidents.comment(incident.id, text: "hi", internal: false, by: outsider) }
        #expect(throws: PortalError.notFound("incident")) { try world.incidents.timeline(of: incident.id, for: outsider) }
        #expect(try world.incidents.list(in: elsewhere.id).isEmpty)
    }
}
