import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// Incidents found by meaning: embedded by the job each change of their text files, only
/// again when the text changed, searched and "similar" within their organization only.
@Suite struct IncidentSearchTests {
    typealias World = IncidentTests.World

    /// Waits for the embedding job of the incident as it is now.
    static func embedded(_ incident: Incident, _ world: World) async throws {
        let job = try await world.base.core.jobs.waitUntilFinal(idempotencyKey: "incident-embed:\(incident.id):\(incident.timelineLength)")
        #expect(job?.state == .succeeded, "the embedding job of \(incident.reference)")
    }

    @Test func findsByMeaningWithinTheOrganizationAndFollowsChanges() async throws {
        let world = try await World()
        let core = world.base.core
        let search = core.incidentSearch
        var opened: [Incident] = []
        for (title, service, description) in [
            ("Checkout fails with 502 bad gateway", "shop", "The proxy in front of checkout answers 502 since the certificate rotation."),
            ("Nightly backup of billing-db did not finish", "billing-db", "The dump job ran out of disk on the backup volume."),
            ("VPN drops every few minutes", "vpn", "Remote staff lose the tunnel; the concentrator logs rekey failures."),
            ("Login page slow for everyone", "sso", "Sign-in takes 20 seconds; the identity provider's database is saturated."),
        ] {
            let incident = try await world.incidents.open(IncidentDraft(title: title, description: description, impact: .medium, urgency: .medium, service: service), by: world.reporter)
            try await Self.embedded(incident, world)
            opened.append(incident)
        }
        // Another organization's incident with the same words is never found from this one.
        let root = try #require(try core.accounts.user(named: "root"))
        let elsewhere = try await core.organizations.create(slug: "elsewhere", displayName: "Elsewhere", by: Principal(user: root, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil))
        let outsider = Principal(user: world.base.admin.user, organizationID: elsewhere.id, role: .admin, sessionKey: nil, csrfToken: nil)
        let theirs = try await world.incidents.open(IncidentDraft(title: "Checkout fails with 502 bad gateway", impact: .low, urgency: .low, service: "shop"), by: outsider)
        try await Self.embedded(theirs, world)

        let found = try await search.search("checkout proxy gateway errors", in: world.organizationID)
        #expect(found.first?.incident.id == opened[0].id && found.count == 4, "\(found.map(\.incident.title))")
        #expect(!found.contains { $0.incident.organizationID != world.organizationID })
        #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score }, "best first")
        #expect(try await search.search("checkout proxy gateway errors", in: elsewhere.id).map(\.incident.id) == [theirs.id])

        // Similar to a new report of the same trouble: the first one, never itself.
        let again = try await world.incidents.open(IncidentDraft(title: "502 bad gateway on checkout again", impact: .high, urgency: .high, service: "shop"), by: world.reporter)
        try await Self.embedded(again, world)
        let similar = try await search.similar(to: again.id, in: world.organizationID, limit: 2)
        #expect(similar.map(\.incident.id).first == opened[0].id && !similar.contains { $0.incident.id == again.id } && similar.count == 2)
        await #expect(throws: PortalError.notFound("incident")) { try await search.similar(to: again.id, in: elsewhere.id) }

        // A new title is searchable after its job; a change elsewhere (a comment) embeds nothing again.
        let renamed = try await world.incidents.update(opened[2].id, IncidentUpdate(title: "Remote access tunnel flaps", description: "IPsec rekeying fails on the concentrator."), by: world.base.operator_)
        try await Self.embedded(renamed, world)
        #expect(try await search.search("ipsec rekeying tunnel", in: world.organizationID).first?.incident.id == opened[2].id)
        let commented = try await world.incidents.comment(opened[1].id, text: "disk extended", internal: false, by: world.base.operator_)
        #expect(try core.jobs.job(idempotencyKey: "incident-embed:\(commented.id):\(commented.timelineLength)") == nil, "a comment files no embedding job")
        #expect(try await search.index(opened.map { (world.organizationID, $0.id) }) == 0, "nothing changed since")
        #expect(try await search.refresh() == 0)

        await #expect(throws: PortalError.invalid("q is 1 to 2000 characters")) { try await search.search("   ", in: world.organizationID) }
        await #expect(throws: PortalError.invalid("limit is 1 to 50")) { try await search.search("vpn", in: world.organizationID, limit: 0) }
        #expect(try core.vectors.check().isEmpty)
    }
}
