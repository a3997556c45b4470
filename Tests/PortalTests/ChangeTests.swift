import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// Change management: each type's path, the CAB (all-of, any-one, by role; no self-approval;
/// a rejection back to assess with its reason), windows that may not overlap on the same
/// items, freezes that stop all but emergencies, the implementation workflow, the review.
@Suite struct ChangeTests {
    struct World {
        let base: IncidentTests.World

        init() async throws {
            base = try await IncidentTests.World()
            let olga = base.base.operator_
            for name in ["db", "app"] { _ = try await base.base.core.assets.save(name, AssetDraft(type: .service), by: olga) }
        }

        var changes: Changes { base.base.core.changes }
        var olga: Principal { base.base.operator_ }
        var ada: Principal { base.base.admin }
        var ben: Principal { base.base.secondAdmin }
        var now: Date { base.clock.now() }

        func hours(_ count: Double) -> Date { now.addingTimeInterval(count * 3600) }

        func setCAB(normal: CABPolicy = CABPolicy(mode: .anyOne, role: .admin), emergency: CABPolicy = CABPolicy(mode: .anyOne, role: .admin),
                    freezes: [FreezeWindow] = []) async throws {
            try await changes.saveSettings(ChangeSettings(normalCAB: normal, emergencyCAB: emergency, freezes: freezes), by: ada)
        }

        /// A normal change on `items` in `start ..< end` hours from now, moved to authorize.
        func authorizing(_ items: [String], _ start: Double, _ end: Double, by principal: Principal? = nil) async throws -> Change {
            let change = try await changes.open(ChangeDraft(type: .normal, title: "patch \(items.joined(separator: "+"))", assets: items,
                                                            windowStart: hours(start), windowEnd: hours(end)), by: principal ?? olga)
            _ = try await changes.move(change.id, ChangeMove(state: .assess), by: principal ?? olga)
            return try await changes.move(change.id, ChangeMove(state: .authorize), by: principal ?? olga)
        }

        func events(_ kind: EventKind) throws -> [ChangeEvent] {
            try base.base.core.outbox.entries(after: 0, limit: 10_000).compactMap { entry in
                if case let .change(event) = entry.event, event.kind == kind { event } else { nil }
            }
        }
    }

    @Test func everyTypeFollowsItsPath() {
        #expect(ChangeType.standard.next(from: .new) == [.scheduled, .cancelled])
        #expect(ChangeType.normal.next(from: .new) == [.assess, .cancelled])
        #expect(ChangeType.emergency.next(from: .new) == [.authorize, .cancelled])
        for type in ChangeType.allCases {
            #expect(type.next(from: .authorize) == [.cancelled], "leaving authorize is the CAB's")
            #expect(type.next(from: .scheduled) == [.implement, .cancelled])
            #expect(type.next(from: .implement) == [.review, .cancelled])
            #expect(type.next(from: .review) == [.closed, .cancelled])
            #expect(type.next(from: .closed).isEmpty && type.next(from: .cancelled).isEmpty)
        }
        #expect(throws: PortalError.conflict("a normal change cannot go from authorize to scheduled (the CAB's decision moves it on); from authorize it can go to: cancelled")) {
            try ChangeType.normal.check(from: .authorize, to: .scheduled)
        }
        #expect(throws: PortalError.conflict("a emergency change cannot go from new to assess; from new it can go to: authorize, cancelled")) {
            try ChangeType.emergency.check(from: .new, to: .assess)
        }
    }

    @Test func aNormalChangeIsAuthorizedByAllOfItsCABAndThenImplementedAndReviewed() async throws {
        let world = try await World()
        try await world.setCAB(normal: CABPolicy(mode: .allOf, approvers: ["ada", "ben"]))
        let change = try await world.authorizing(["db"], 1, 3)
        #expect(change.state == .authorize && change.reference == "CHG-1" && change.cab?.mode == .allOf)
        await #expect(throws: PortalError.forbidden("you are not on the CAB for this change")) {
            try await world.changes.decide(change.id, approve: true, comment: "", by: world.base.reporter)
        }
        #expect(try world.changes.awaitingDecision(by: world.ada).map(\.id) == [change.id] && world.changes.awaitingDecision(by: world.ben).map(\.id) == [change.id])
        #expect(try world.changes.awaitingDecision(by: world.base.reporter).isEmpty && world.changes.awaitingDecision(by: world.olga).isEmpty, "not on the CAB; the requester")
        _ = try await world.changes.decide(change.id, approve: true, comment: "fine by me", by: world.ada)
        #expect(try world.changes.change(change.id, in: world.base.organizationID)?.state == .authorize, "all of them: one approval is not enough")
        #expect(try world.changes.awaitingDecision(by: world.ada).isEmpty && world.changes.awaitingDecision(by: world.ben).map(\.id) == [change.id], "ada has decided")
        await #expect(throws: PortalError.conflict("you have already decided on CHG-1")) {
            try await world.changes.decide(change.id, approve: true, comment: "", by: world.ada)
        }
        let authorized = try await world.changes.decide(change.id, approve: true, comment: "", by: world.ben)
        #expect(authorized.state == .scheduled && authorized.decisions.map(\.approverName) == ["ada", "ben"])
        #expect(try world.events(.changeDecided).map(\.detail) == ["approved by ada", "authorized"])

        _ = try await world.changes.move(change.id, ChangeMove(state: .implement), by: world.olga)
        await #expect(throws: PortalError.invalid("outcome: say how the implementation went (successful, failed, backed-out)")) {
            try await world.changes.move(change.id, ChangeMove(state: .review), by: world.olga)
        }
        _ = try await world.changes.move(change.id, ChangeMove(state: .review, outcome: .successful), by: world.olga)
        await #expect(throws: PortalError.invalid("notes: a change closes with its post-implementation review")) {
            try await world.changes.move(change.id, ChangeMove(state: .closed), by: world.olga)
        }
        let closed = try await world.changes.move(change.id, ChangeMove(state: .closed, notes: "no errors in 24 h"), by: world.olga)
        #expect(closed.state == .closed && closed.outcome == .successful && closed.review == "no errors in 24 h")
        #expect(closed.history.count == 8, "opened, 5 moves by hand, 2 decisions: \(closed.history)")
        let figures = try world.changes.figures(in: world.base.organizationID, from: world.hours(-24), to: world.hours(24))
        #expect(figures == ChangeFigures(planned: 1, successful: 1, failed: 0, backedOut: 0, successRate: 100))
        // A viewer does not open changes.
        await #expect(throws: PortalError.forbidden("this needs the changes:request permission")) {
            try await world.changes.open(ChangeDraft(type: .normal, title: "x"), by: world.base.reporter)
        }
    }

    @Test func aRejectionSendsTheChangeBackToAssessWithTheReasonAndFreesTheWindow() async throws {
        let world = try await World()
        try await world.setCAB()
        let mine = try await world.authorizing(["db"], 1, 3, by: world.ada)
        await #expect(throws: PortalError.forbidden("nobody approves their own change")) {
            try await world.changes.decide(mine.id, approve: true, comment: "", by: world.ada)
        }
        await #expect(throws: PortalError.invalid("comment: a rejection says why")) {
            try await world.changes.decide(mine.id, approve: false, comment: " ", by: world.ben)
        }
        let rejected = try await world.changes.decide(mine.id, approve: false, comment: "no backout plan", by: world.ben)
        #expect(rejected.state == .assess && rejected.rejection == "no backout plan")
        // Back in assess it holds no window: another change on the item takes it.
        let other = try await world.authorizing(["db"], 2, 4)
        #expect(other.state == .authorize)
        await #expect(throws: PortalError.conflict("the window overlaps CHG-2 on the same configuration items")) {
            try await world.changes.move(mine.id, ChangeMove(state: .authorize), by: world.ada)
        }
        // Planned again, outside the other window: the next round starts with no decisions.
        _ = try await world.changes.update(mine.id, ChangeUpdate(windowStart: world.hours(4), windowEnd: world.hours(5), backoutPlan: "restore the snapshot"), by: world.ada)
        let again = try await world.changes.move(mine.id, ChangeMove(state: .authorize), by: world.ada)
        #expect(again.state == .authorize && again.decisions.isEmpty)
        await #expect(throws: PortalError.conflict("a change in authorize no longer changes; only while new or in assess")) {
            try await world.changes.update(mine.id, ChangeUpdate(title: "sneaky"), by: world.ada)
        }
    }

    @Test func windowsOnTheSameItemsMayNotOverlapAndFreezesStopAllButEmergencies() async throws {
        let world = try await World()
        try await world.setCAB(emergency: CABPolicy(mode: .anyOne, approvers: ["ben"]),
                               freezes: [FreezeWindow(start: world.hours(48), end: world.hours(72), reason: "year-end close")])
        let first = try await world.authorizing(["db"], 10, 12)
        await #expect(throws: PortalError.conflict("the window overlaps CHG-1 on the same configuration items")) {
            try await world.authorizing(["app", "db"], 11, 13)
        }
        #expect(try await world.authorizing(["app"], 11, 13).state == .authorize, "another item")
        #expect(try await world.authorizing(["db"], 12, 14).state == .authorize, "a window that starts as the other ends")
        let blocked = try #require(try world.changes.list(in: world.base.organizationID, state: .assess).first)
        #expect(try world.changes.conflicts(of: blocked) == ["CHG-1", "CHG-3", "CHG-4"])
        _ = try await world.changes.move(first.id, ChangeMove(state: .cancelled, notes: "not needed"), by: world.olga)
        #expect(try world.changes.conflicts(of: blocked) == ["CHG-3", "CHG-4"], "the cancelled change let its window go")
        #expect(try await world.authorizing(["db"], 10, 12).state == .authorize, "the cancelled change's window is free again")
        // Each item lists its changes, newest first; a change moved to another item moves in the index.
        let numbers = { (item: String) in try world.changes.changes(onAsset: item, in: world.base.organizationID).map(\.number) }
        #expect(try numbers("db") == [5, 4, 2, 1] && numbers("app") == [3, 2])
        _ = try await world.changes.update(blocked.id, ChangeUpdate(assets: ["app"]), by: world.olga)
        #expect(try numbers("db") == [5, 4, 1] && numbers("app") == [3, 2])
        #expect(try world.changes.changes(onAsset: "db", in: UUID()).isEmpty, "another organization's items are its own")

        // The freeze: a normal change is refused; an emergency skips assess and goes ahead.
        await #expect(throws: PortalError.self) { try await world.authorizing(["app"], 50, 51) }
        let urgent = try await world.changes.open(ChangeDraft(type: .emergency, title: "hotfix", risk: .high, impact: .high, assets: ["app"],
                                                              windowStart: world.hours(50), windowEnd: world.hours(51)), by: world.olga)
        await #expect(throws: PortalError.self) { try await world.changes.move(urgent.id, ChangeMove(state: .assess), by: world.olga) }
        _ = try await world.changes.move(urgent.id, ChangeMove(state: .authorize), by: world.olga)
        await #expect(throws: PortalError.forbidden("you are not on the CAB for this change")) {
            try await world.changes.decide(urgent.id, approve: true, comment: "", by: world.ada)
        }
        #expect(try await world.changes.decide(urgent.id, approve: true, comment: "go", by: world.ben).state == .scheduled)
        // A window needs both ends, in order, and at most 30 days.
        await #expect(throws: PortalError.invalid("windowEnd: the window ends before it starts")) {
            try await world.changes.open(ChangeDraft(type: .normal, title: "x", windowStart: world.hours(2), windowEnd: world.hours(1)), by: world.olga)
        }
        let unplanned = try await world.changes.open(ChangeDraft(type: .emergency, title: "x"), by: world.olga)
        await #expect(throws: PortalError.conflict("CHG-\(unplanned.number) needs a planned window (windowStart, windowEnd) before authorize")) {
            try await world.changes.move(unplanned.id, ChangeMove(state: .authorize), by: world.olga)
        }
        await #expect(throws: PortalError.invalid("assets: no configuration item 'nope'")) {
            try await world.changes.open(ChangeDraft(type: .normal, title: "x", assets: ["nope"]), by: world.olga)
        }
    }

    @Test func aStandardChangeFollowsItsTemplateAndImplementsThroughItsWorkflow() async throws {
        let world = try await World()
        try await world.base.base.save("""
        {"name": "restart-app", "title": "Restart the app", "inputs": {"type": "object", "properties": {"change": {"type": "string"}, "changeID": {"type": "string"}}},
         "nodes": [{"id": "note", "type": "set", "config": {"variables": {"for": "{{ inputs.change }}"}}}], "edges": [],
         "outputs": {"for": "{{ vars.for }}"}}
        """)
        try await world.changes.saveTemplate(ChangeTemplate(name: "app-restart", title: "Restart the app", implementationWorkflow: "restart-app",
                                                            backoutPlan: "start the previous release"), by: world.ada)
        await #expect(throws: PortalError.invalid("template: a standard change follows a pre-approved template")) {
            try await world.changes.open(ChangeDraft(type: .standard, title: "x"), by: world.olga)
        }
        let change = try await world.changes.open(ChangeDraft(type: .standard, template: "app-restart", assets: ["app"],
                                                              windowStart: world.hours(1), windowEnd: world.hours(2)), by: world.olga)
        #expect(change.cab == nil && change.title == "Restart the app" && change.backoutPlan == "start the previous release")
        let scheduled = try await world.changes.move(change.id, ChangeMove(state: .scheduled), by: world.olga)
        #expect(scheduled.state == .scheduled, "no CAB for a standard change")
        let implementing = try await world.changes.move(change.id, ChangeMove(state: .implement), by: world.olga)
        let runID = try #require(implementing.implementationRunID)
        let run = try await world.base.base.wait(for: runID)
        #expect(run.status == .succeeded && run.outputs?["for"] == .string("CHG-1") && run.starterName == "olga")
        #expect(try world.events(.changeStateChanged).map(\.detail) == ["new → scheduled", "scheduled → implement"])
    }
}
