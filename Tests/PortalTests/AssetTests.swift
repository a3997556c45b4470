import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// The CMDB: items, typed relations kept both ways, impact through cycles, imports that
/// save all or nothing and refresh their own items only; and the incident dashboard's
/// figures, kept by each change.
@Suite struct AssetTests {
    typealias World = IncidentTests.World

    static func item(_ name: String, _ type: AssetType) -> AssetImport.Item { AssetImport.Item(name: name, type: type) }

    @Test func impactFollowsDependenciesTransitivelyAndEndsAtCycles() async throws {
        let world = try await World()
        let assets = world.base.core.assets
        let olga = world.base.operator_
        for (name, type) in [("h1", AssetType.host), ("db", .database), ("api", .service), ("web", .application), ("monitor", .service)] {
            _ = try await assets.save(name, AssetDraft(type: type), by: olga)
        }
        for relation in [AssetRelation(from: "db", kind: .runsOn, to: "h1"), AssetRelation(from: "api", kind: .dependsOn, to: "db"),
                         AssetRelation(from: "web", kind: .dependsOn, to: "api"), AssetRelation(from: "db", kind: .dependsOn, to: "web"),
                         AssetRelation(from: "monitor", kind: .connectsTo, to: "db")] {
            _ = try await assets.relate(relation, by: olga)
        }
        let fromHost = try assets.impact(of: "h1", in: world.organizationID)
        #expect(fromHost == [ImpactedAsset(name: "db", type: .database, depth: 1, via: "h1", relation: .runsOn),
                             ImpactedAsset(name: "api", type: .service, depth: 2, via: "db", relation: .dependsOn),
                             ImpactedAsset(name: "web", type: .application, depth: 3, via: "api", relation: .dependsOn)],
                "the cycle db → web → api → db ends at db; a connection carries no impact")
        #expect(try assets.impact(of: "web", in: world.organizationID).map(\.name) == ["db", "api"], "the item itself is never its own impact")
        #expect(try assets.impact(of: "monitor", in: world.organizationID).isEmpty)

        // A ring of 500 items, each depending on the next: every other item once, at its distance.
        let ring = (0..<500).map { "ring-\($0)" }
        let relations = ring.indices.map { AssetRelation(from: ring[$0], kind: .dependsOn, to: ring[($0 + 1) % ring.count]) }
        _ = try await assets.importItems(AssetImport(source: "ring", items: ring.map { Self.item($0, .service) }, relations: relations), by: olga)
        let around = try assets.impact(of: "ring-0", in: world.organizationID)
        #expect(around.count == 499 && around.first?.name == "ring-499" && around.last?.name == "ring-1" && around.last?.depth == 499)
        #expect(Set(around.map(\.name)).count == 499)
    }

    @Test func relationsAreCheckedAndRemovedWithTheirItems() async throws {
        let world = try await World()
        let assets = world.base.core.assets
        let olga = world.base.operator_
        _ = try await assets.save("db", AssetDraft(type: .database, owner: "dba-team", attributes: ["engine": "postgres"]), by: olga)
        _ = try await assets.save("h1", AssetDraft(type: .host), by: olga)
        await #expect(throws: PortalError.invalid("an item does not relate to itself ('db')")) {
            try await assets.relate(AssetRelation(from: "db", kind: .dependsOn, to: "db"), by: olga)
        }
        await #expect(throws: PortalError.invalid("no configuration item 'h2'")) {
            try await assets.relate(AssetRelation(from: "db", kind: .runsOn, to: "h2"), by: olga)
        }
        _ = try await assets.relate(AssetRelation(from: "db", kind: .connectsTo, to: "h1"), by: olga)
        let replaced = try await assets.relate(AssetRelation(from: "db", kind: .runsOn, to: "h1"), by: olga)
        #expect(replaced.relations == [AssetRelation(from: "db", kind: .runsOn, to: "h1")], "one relation per ordered pair")
        #expect(try assets.detail("h1", in: world.organizationID).dependents == [AssetRelation(from: "db", kind: .runsOn, to: "h1")])
        try await assets.remove("db", by: olga)
        #expect(try assets.detail("h1", in: world.organizationID).dependents.isEmpty, "the other side of the relation goes too")
        await #expect(throws: PortalError.notFound("relation")) { try await assets.unrelate("db", "h1", by: olga) }

        // Bad input names the field; a viewer reads but does not change; another organization sees nothing.
        await #expect(throws: PortalError.self) { try await assets.save("bad name", AssetDraft(type: .host), by: olga) }
        await #expect(throws: PortalError.invalid("attributes: at most 64")) {
            try await assets.save("h2", AssetDraft(type: .host, attributes: Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })), by: olga)
        }
        await #expect(throws: PortalError.forbidden("this needs the assets:manage permission")) {
            try await assets.save("h2", AssetDraft(type: .host), by: world.reporter)
        }
        #expect(try assets.list(in: world.organizationID).map(\.name) == ["h1"])
        let root = try #require(try world.base.core.accounts.user(named: "root"))
        let elsewhere = try await world.base.core.organizations.create(slug: "elsewhere", displayName: "Elsewhere",
                                                                       by: Principal(user: root, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil))
        #expect(try assets.asset("h1", in: elsewhere.id) == nil && assets.list(in: elsewhere.id).isEmpty)
        let outsider = Principal(user: world.base.admin.user, organizationID: elsewhere.id, role: .admin, sessionKey: nil, csrfToken: nil)
        _ = try await assets.save("h9", AssetDraft(type: .host), by: outsider)
        await #expect(throws: PortalError.invalid("no configuration item 'h1'")) {
            try await assets.relate(AssetRelation(from: "h9", kind: .runsOn, to: "h1"), by: outsider)
        }
        let kinds = try world.base.core.outbox.entries(after: 0, limit: 10_000).compactMap { entry in
            if case let .asset(event) = entry.event, entry.organizationID == world.organizationID { event.kind } else { nil }
        }
        #expect(kinds == [.assetSaved, .assetSaved, .assetRelated, .assetRelated, .assetRemoved])
    }

    @Test func anImportSavesAllOrNothingAndRefreshesOnlyItsOwnItems() async throws {
        let world = try await World()
        let assets = world.base.core.assets
        let olga = world.base.operator_
        _ = try await assets.save("billing", AssetDraft(type: .service, description: "kept by hand"), by: olga)
        let first = try await assets.importItems(AssetImport(source: "oci", items: [Self.item("vm-1", .instance), Self.item("vm-2", .instance), Self.item("billing", .instance)],
                                                             relations: [AssetRelation(from: "billing", kind: .runsOn, to: "vm-1")]), by: olga)
        #expect(first == AssetImportResult(created: 2, updated: 0, unchanged: 1, removed: 0, relations: 1))
        #expect(try assets.asset("billing", in: world.organizationID)?.type == .service, "an item kept by hand is not overwritten")

        // A bad relation: nothing of the import is saved.
        await #expect(throws: PortalError.invalid("no configuration item 'vm-9'")) {
            try await assets.importItems(AssetImport(source: "oci", items: [Self.item("vm-3", .instance)],
                                                     relations: [AssetRelation(from: "vm-3", kind: .runsOn, to: "vm-9")]), by: olga)
        }
        #expect(try assets.asset("vm-3", in: world.organizationID) == nil)
        await #expect(throws: PortalError.invalid("items: 'vm-1' appears twice")) {
            try await assets.importItems(AssetImport(source: "oci", items: [Self.item("vm-1", .instance), Self.item("vm-1", .host)]), by: olga)
        }

        // The refresh: vm-1 changes, vm-2 is gone (with its relations), vm-3 is new.
        let refresh = try await assets.importItems(AssetImport(source: "oci", items: [AssetImport.Item(name: "vm-1", type: .instance, attributes: ["shape": "E5"]),
                                                                                      Self.item("vm-3", .instance)], removeMissing: true), by: olga)
        #expect(refresh == AssetImportResult(created: 1, updated: 1, unchanged: 0, removed: 1, relations: 0))
        #expect(try assets.list(in: world.organizationID).map(\.name) == ["billing", "vm-1", "vm-3"])
        #expect(try assets.detail("vm-1", in: world.organizationID).dependents == [AssetRelation(from: "billing", kind: .runsOn, to: "vm-1")])
        let again = try await assets.importItems(AssetImport(source: "oci", items: [AssetImport.Item(name: "vm-1", type: .instance, attributes: ["shape": "E5"]),
                                                                                    Self.item("vm-3", .instance)], removeMissing: true), by: olga)
        #expect(again == AssetImportResult(created: 0, updated: 0, unchanged: 2, removed: 0, relations: 0), "the same import twice changes nothing")
        #expect(try assets.list(in: world.organizationID, type: .instance, limit: 1, after: "vm-1").map(\.name) == ["vm-3"])
    }

    @Test func theDashboardCountsFromTheDayFiguresAndTheOpenIncidents() async throws {
        let world = try await World()
        let olga = world.base.operator_
        let incidents = world.incidents
        // Monday 16:00: three incidents, two on billing-db (one for the dba group), one major.
        let down = try await incidents.open(IncidentDraft(title: "db down", impact: .high, urgency: .high, service: "billing-db", group: "dba", major: true), by: world.reporter)
        let slow = try await incidents.open(IncidentDraft(title: "db slow", impact: .medium, urgency: .medium, service: "billing-db"), by: world.reporter)
        let typo = try await incidents.open(IncidentDraft(title: "typo", impact: .low, urgency: .low, service: "status-page"), by: world.reporter)
        // 30 minutes later the team answers the first; an hour later it is resolved.
        world.clock.advance(by: .seconds(1800))
        _ = try await incidents.comment(down.id, text: "looking", internal: false, by: olga)
        world.clock.advance(by: .seconds(3600))
        _ = try await incidents.move(down.id, IncidentMove(state: .resolved, resolutionCode: .fixed), by: olga)
        _ = try await incidents.move(slow.id, IncidentMove(state: .inProgress), by: olga)
        // Tuesday 10:30: an urgent incident whose first-response clock warns and breaches that day.
        world.clock.advance(by: .seconds(17 * 3600))
        let burning = try await incidents.open(IncidentDraft(title: "queue stuck", impact: .high, urgency: .medium, service: "billing-db", group: "dba"), by: world.reporter)
        let breach = try #require(burning.slas.first?.dueAt)
        world.clock.advance(by: .seconds(breach.timeIntervalSince(world.clock.now())))
        try await incidents.fire(.init(organizationID: world.organizationID, incidentID: burning.id, clock: 0, warning: true, due: try #require(burning.slas.first?.warnAt)))
        try await incidents.fire(.init(organizationID: world.organizationID, incidentID: burning.id, clock: 0, warning: false, due: breach))

        let now = world.clock.now()
        let all = try incidents.dashboard(in: world.organizationID, from: Self.day("2026-11-30"), to: Self.day("2026-12-03"))
        #expect(all.openTotal == 3 && all.majorOpen == 0)
        #expect(all.open == ["new": ["5": 1, "2": 1], "in-progress": ["3": 1]])
        #expect(all.slaBreached == 1 && all.slaAtRisk == 0)
        #expect(all.opened == 4 && all.resolved == 1)
        #expect(all.mttaMinutes == 60 && all.mttrMinutes == 90, "answered after 30 and 90 minutes; resolved after 90")
        #expect(all.topServices == [.init(service: "billing-db", incidents: 3, open: 2), .init(service: "status-page", incidents: 1, open: 1)])
        #expect(all.days.map(\.date) == ["2026-11-30", "2026-12-01"] && all.days.map(\.opened) == [3, 1] && all.days.map(\.breached) == [0, 1])

        let dba = try incidents.dashboard(in: world.organizationID, from: Self.day("2026-11-30"), to: Self.day("2026-12-03"), group: "dba")
        #expect(dba.openTotal == 1 && dba.opened == 2 && dba.resolved == 1 && dba.topServices.map(\.service) == ["billing-db"])
        let tuesday = try incidents.dashboard(in: world.organizationID, from: Self.day("2026-12-01"), to: now)
        #expect(tuesday.opened == 1 && tuesday.resolved == 0 && tuesday.mttrMinutes == nil && tuesday.openTotal == 3, "open counts are now, whatever the period")
        #expect(throws: PortalError.invalid("the period is from 1 to 366 days, from before to")) {
            try incidents.dashboard(in: world.organizationID, from: now, to: now)
        }
        #expect(throws: PortalError.self) { try incidents.dashboard(in: world.organizationID, from: Self.day("2024-01-01"), to: now) }
        // Less than a second just after midnight: one day, not an underflow.
        let midnight = Self.day("2026-12-01")
        #expect(try incidents.dashboard(in: world.organizationID, from: midnight.addingTimeInterval(0.25), to: midnight.addingTimeInterval(0.75)).days.map(\.date) == ["2026-12-01"])
        let onService = try incidents.incidents(onService: "billing-db", in: world.organizationID).map(\.number)
        #expect(onService.first == burning.number && Set(onService) == [burning.number, slow.number, down.number], "newest first")
        #expect(try incidents.incidents(onService: "status-page", in: world.organizationID).map(\.number) == [typo.number])
    }

    @Test func theSchemaStepSummarizesTheStateIndexAndIndexesNumbers() async throws {
        let world = try await World()
        let incidents = world.incidents
        _ = try await incidents.open(IncidentDraft(title: "db down", impact: .high, urgency: .high, service: "billing-db", group: "dba", major: true), by: world.reporter)
        let slow = try await incidents.open(IncidentDraft(title: "db slow", impact: .medium, urgency: .high, service: "billing-db"), by: world.reporter)
        try await incidents.fire(.init(organizationID: world.organizationID, incidentID: slow.id, clock: 0, warning: true, due: try #require(slow.slas.first?.warnAt)))
        let period = (from: Self.day("2026-11-30"), to: Self.day("2026-12-01"))
        let before = try incidents.dashboard(in: world.organizationID, from: period.from, to: period.to)
        #expect(before.openTotal == 2 && before.majorOpen == 1 && before.slaAtRisk == 1 && before.topServices.first?.open == 2)

        // The index as version 1 wrote it: the priority alone, and steps 2 and 3 not yet applied.
        let environment = world.base.core.environment
        let legacy = try environment.table("incidents_by_state", key: CompositeKey3<UUID, String, TimeOrderedID>.self, value: JSONValue<Int>.self)
        let applied = try environment.table("_migrations", key: UInt64Key.self, value: JSONValue<AppliedMigration>.self)
        let numbers = try Incidents.numberIndex(environment)
        let all = try incidents.list(in: world.organizationID)
        try await environment.write { txn in
            for incident in all {
                try txn.put(legacy, (incident.organizationID, incident.state.rawValue, incident.id), incident.priority)
                #expect(try txn.delete(numbers, (incident.organizationID, UInt64(incident.number))))
            }
            #expect(try txn.delete(applied, 2) && txn.delete(applied, 3), "as a version 1 directory")
        }
        #expect(throws: KVError.self, "a bare priority is not a summary") { try incidents.dashboard(in: world.organizationID, from: period.from, to: period.to) }
        #expect(try incidents.incident(reference: "INC-2", in: world.organizationID) == nil)
        #expect(try await environment.migrate(Schema.migrations(environment)) == Schema.version)
        #expect(try incidents.dashboard(in: world.organizationID, from: period.from, to: period.to) == before)
        #expect(try incidents.counts(in: world.organizationID) == [.new: [1: 1, 2: 1]])
        for reference in ["INC-2", "inc-2", " 2", slow.id.description] {
            #expect(try incidents.incident(reference: reference, in: world.organizationID)?.id == slow.id, "\(reference)")
        }
        #expect(try incidents.incident(reference: "INC-3", in: world.organizationID) == nil)
        #expect(try incidents.incident(reference: "INC-2", in: UUID()) == nil, "another organization's numbers are its own")
    }

    static func day(_ text: String) -> Date { ITSMRulesTests.at("\(text)T00:00:00Z") }
}
