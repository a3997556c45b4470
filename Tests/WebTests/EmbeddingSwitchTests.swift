import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
import Synchronization
@testable import Portal
import Testing
import TestSupport
@testable import Web

/// Switching search from the built-in embedder to an OpenAI-compatible provider (a server
/// this test runs on 127.0.0.1): every turn embedded again in the background while search
/// goes on, a failing provider retried, turns written and deleted meanwhile accounted for,
/// the provider recorded with each collection, and the choice kept across a restart.
@Suite struct EmbeddingSwitchTests {
    @Test(.timeLimit(.minutes(2))) func switchingProviderReembedsEveryTurnInTheBackground() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let core = harness.core
        let olga = try #require(try core.accounts.user(named: "olga"))
        let principal = Principal(user: olga, organizationID: organization.id, role: .operator, sessionKey: nil, csrfToken: nil)
        let kept = try await core.chat.create(title: "Kept", by: principal)
        let dropped = try await core.chat.create(title: "Dropped", by: principal)
        for number in 1...100 { _ = try await core.chat.append(.user, text: "kept message number \(number)", to: kept.id, by: principal) }
        for number in 1...30 { _ = try await core.chat.append(.user, text: "dropped message number \(number)", to: dropped.id, by: principal) }
        #expect(try core.vectors.descriptor("chat-turns")?.embedder == HashingEmbedder().identity, "the built-in embedder is recorded")
        let incidents = [try await core.incidents.open(IncidentDraft(title: "Checkout fails with 502", impact: .low, urgency: .low), by: principal),
                         try await core.incidents.open(IncidentDraft(title: "Backup did not finish", impact: .low, urgency: .low), by: principal)]

        // The provider holds its first answer until the test lets it go, then fails the first
        // batch four times (one failed attempt of the switch), then answers.
        let script = EmbeddingsProviderTests.Script([500, 500, 500, 500], dimension: 8)
        let (gate, opener) = AsyncStream.makeStream(of: Void.self)
        try await EmbeddingsProviderTests.server(script, gate: gate).test(.live) { provider in
            let port = try #require(provider.port)
            try await harness.test { client in
                let root = try await ToolRoutesTests.signIn(client, "root"), ada = try await ToolRoutesTests.signIn(client, "ada")
                let olgaSession = try await ToolRoutesTests.signIn(client, "olga")
                let choice = #"{"provider":"openai-compatible","baseURL":"http://127.0.0.1:\#(port)/v1","model":"test-embed","dimension":8,"apiKey":"sk-embed-secret-42"}"#
                try await client.execute(uri: "/api/search/embeddings", method: .put, headers: ada.headers, body: ByteBuffer(string: choice)) {
                    #expect($0.status == .forbidden, "system administrators only")
                }
                try await client.execute(uri: "/api/search/embeddings", method: .put, headers: root.headers,
                                         body: ByteBuffer(string: #"{"provider":"openai-compatible","baseURL":"ftp://x","model":"m","dimension":8}"#)) {
                    #expect($0.status == .badRequest)
                }
                try await client.execute(uri: "/api/search/embeddings", method: .put, headers: root.headers, body: ByteBuffer(string: choice)) { response throws in
                    #expect(response.status == .accepted)
                    let status = try ToolRoutesTests.json(response)
                    #expect(status["next"]?["model"] == .string("test-embed") && status["active"]?["provider"] == .string("builtin"))
                }
                // The switch is under way (the provider has not answered yet): one switch at a time.
                try await client.execute(uri: "/api/search/embeddings", method: .put, headers: root.headers, body: ByteBuffer(string: choice)) {
                    #expect($0.status == .conflict)
                }
                // Search goes on meanwhile, with the built-in embedder; and the conversation changes.
                try await client.execute(uri: "/api/search?q=kept%20message&kind=turns", method: .get, headers: olgaSession.headers) { response throws in
                    #expect(try ToolRoutesTests.json(response)["results"]?.array?.isEmpty == false)
                }
                _ = try await core.chat.append(.user, text: "a late arrival about certificates", to: kept.id, by: principal)
                try await core.chat.delete(dropped.id, by: principal)
                opener.finish()

                try await core.reindexer.waitUntilIdle()
                try await client.execute(uri: "/api/search/embeddings", method: .get, headers: root.headers) { response throws in
                    let status = try ToolRoutesTests.json(response)
                    #expect(status["active"]?["provider"] == .string("openai-compatible") && status["active"]?["dimension"] == .number(8))
                    #expect(status["next"] == nil || status["next"] == .null)
                    #expect(status["done"] == status["total"] && (status["total"]?.number ?? 0) >= 100)
                    #expect(status["problem"] == nil || status["problem"] == .null)
                }
                // Found with the new provider's vectors: the server gives texts of one length and first letter the same vector.
                try await client.execute(uri: "/api/search?q=\("a late arrival about certificates".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&kind=turns",
                                         method: .get, headers: olgaSession.headers) { response throws in
                    #expect(try ToolRoutesTests.json(response)["results"]?.array?.first?["snippet"]?.string?.contains("certificates") == true)
                }
                try await client.execute(uri: "/api/search?q=memory&kind=tools", method: .get, headers: olgaSession.headers) { response throws in
                    #expect(try ToolRoutesTests.json(response)["results"]?.array?.isEmpty == false, "the tools were embedded again too")
                }
                // The test provider gives texts of one length and first letter one vector: the incident is the one with its title's.
                let found = try await core.incidentSearch.search(IncidentSearch.text(incidents[0]), in: organization.id, limit: 1)
                #expect(found.map(\.incident.id) == [incidents[0].id])
            }
        }
        let requests = script.requests.withLock { $0 }
        #expect(requests.count >= 4 && requests.allSatisfy { $0.authorization == "Bearer sk-embed-secret-42" })
        #expect(requests.prefix(4).allSatisfy { $0.inputs.count == 64 }, "the failing first batch was retried")

        // Each collection records its provider; the old generation is gone; the index holds exactly the turns there are.
        let identity = EmbedderIdentity(provider: "openai-compatible", model: "test-embed", dimension: 8)
        #expect(try core.vectors.descriptor("chat-turns.g1")?.embedder == identity)
        #expect(try core.vectors.descriptor("tools.g1")?.embedder == identity)
        #expect(try core.vectors.descriptor("chat-turns") == nil && core.vectors.descriptor("tools") == nil && core.vectors.descriptor("incidents") == nil)
        #expect(try core.vectors.ownerKeys("incidents.g1") == Set(incidents.map(\.id.description)), "the incidents were embedded again too")
        let expected = Set(try core.chat.turns(of: kept.id).map { ChatSessions.owner(session: kept.id, turn: $0.id) })
        #expect(expected.count == 101)
        #expect(try core.vectors.ownerKeys("chat-turns.g1") == expected, "late turns added, deleted ones removed")
        #expect(try core.vectors.check().isEmpty)

        // After a restart search still uses the chosen provider (its key unsealed from storage).
        let reopened = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000))
        #expect(reopened.embeddings.active().embedder.identity == identity && reopened.embeddings.active().generation == 1)
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.environment.path + "/data.mdb"))
        #expect(data.range(of: Data("sk-embed-secret-42".utf8)) == nil)
    }

    @Test(.timeLimit(.minutes(1))) func aSwitchInterruptedByAStopStartsOverAtTheNextStart() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let olga = try #require(try harness.core.accounts.user(named: "olga"))
        let session = try await harness.core.chat.create(title: "Before", by: .member(olga, of: organization.id, as: .operator))
        for number in 1...10 { _ = try await harness.core.chat.append(.user, text: "turn \(number)", to: session.id, by: .member(olga, of: organization.id, as: .operator)) }
        let root = try #require(try harness.core.accounts.user(named: "root"))
        let script = EmbeddingsProviderTests.Script([], dimension: 8)
        let (gate, opener) = AsyncStream.makeStream(of: Void.self)
        try await EmbeddingsProviderTests.server(script, gate: gate).test(.live) { provider in
            let choice = EmbedderChoice(provider: "openai-compatible", baseURL: "http://127.0.0.1:\(try #require(provider.port))/v1", model: "test-embed", dimension: 8)
            try await harness.core.reindexer.choose(choice, apiKey: nil, by: .member(root, of: organization.id, as: .admin))
            // Stopped (as by SIGTERM) while the provider has not answered yet: after the grace
            // period the job is cancelled and stays due.
            try await harness.services.stop()
            #expect(harness.core.embeddings.active().generation == 0)
            #expect(try harness.core.jobs.job(idempotencyKey: SearchReindexer.jobKind)?.state == .pending)

            let restarted = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000))
            #expect(restarted.embeddings.currentStatus().next == nil, "nothing runs before the start")
            try await restarted.resumeAfterStart(defaultEmbedder: .hashing)
            #expect(restarted.embeddings.currentStatus().next?.model == "test-embed")
            let services = restarted.startServices()
            opener.finish()
            try await restarted.reindexer.waitUntilIdle()
            try await services.stop()
            #expect(restarted.embeddings.active().embedder.identity.model == "test-embed" && restarted.embeddings.active().generation == 1)
            #expect(try restarted.vectors.ownerKeys("chat-turns.g1").count == 10)
        }
    }
}
