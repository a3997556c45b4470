import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
import TestSupport
@testable import Web

/// The built-in sentence model as search's embedder: chosen like any provider (with its own
/// dimension, and only when its files load), everything embedded again in the background,
/// paraphrases found, and required at start: a portal whose search uses it does not start
/// without its files, and says which file and how to restore it.
/// The model's files: `scripts/fetch-model.sh` (`make test` runs it).
@Suite struct SentenceModelSwitchTests {
    @Test(.timeLimit(.minutes(3))) func searchSwitchesToTheSentenceModelAndNeedsItsFilesAtStart() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let core = harness.core
        let olga = try #require(try core.accounts.user(named: "olga"))
        let principal = Principal.member(olga, of: organization.id, as: .operator)
        let session = try await core.chat.create(title: "Night shift", by: principal)
        let texts = ["The nightly backup could not finish because the bucket ran out of quota.",
                     "Renew the TLS certificate on the mail server before Friday.",
                     "The VPN drops every few minutes over the hotel Wi-Fi."]
        for text in texts { _ = try await core.chat.append(.user, text: text, to: session.id, by: principal) }

        try await harness.test { client in
            let root = try await ToolRoutesTests.signIn(client, "root"), olgaSession = try await ToolRoutesTests.signIn(client, "olga")
            try await client.execute(uri: "/api/search/embeddings", method: .put, headers: root.headers,
                                     body: ByteBuffer(string: #"{"provider":"builtin","model":"all-MiniLM-L6-v2","dimension":1536}"#)) { response throws in
                #expect(response.status == .badRequest)
                #expect(try ToolRoutesTests.json(response)["detail"]?.string?.contains("dimension of all-MiniLM-L6-v2 is 384") == true)
            }
            try await client.execute(uri: "/api/search/embeddings", method: .put, headers: root.headers,
                                     body: ByteBuffer(string: #"{"provider":"builtin","model":"all-MiniLM-L6-v2"}"#)) { response throws in
                #expect(response.status == .accepted)
                #expect(try ToolRoutesTests.json(response)["next"]?["dimension"] == .number(384))
            }
            try await core.reindexer.waitUntilIdle()
            try await client.execute(uri: "/api/search/embeddings", method: .get, headers: root.headers) { response throws in
                let status = try ToolRoutesTests.json(response)
                #expect(status["active"]?["model"] == .string("all-MiniLM-L6-v2") && status["active"]?["dimension"] == .number(384))
            }
            // A paraphrase with no word of the turn's but "backup": storage, limit, failed.
            let query = "storage limit reached so the backup failed".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            try await client.execute(uri: "/api/search?q=\(query)&kind=turns", method: .get, headers: olgaSession.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["results"]?.array?.first?["snippet"]?.string?.contains("quota") == true)
            }
            let vpn = "internet connection keeps cutting out on the road".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            try await client.execute(uri: "/api/search?q=\(vpn)&kind=turns", method: .get, headers: olgaSession.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["results"]?.array?.first?["snippet"]?.string?.contains("VPN") == true)
            }
        }
        #expect(try core.vectors.descriptor("chat-turns.g1")?.embedder == SentenceEmbedder.identity)
        #expect(try core.vectors.descriptor("tools.g1")?.embedder == SentenceEmbedder.identity)

        // The start-up check: without the model's files the portal does not start (an
        // administrator chose the model, so even the hashing default does not replace it).
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-model-\(UUID().uuidString)").path
        await #expect {
            let core = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000), sentenceModel: .at(missing))
            try await core.resumeAfterStart(defaultEmbedder: .hashing)
        } throws: { error in
            "\(error)".contains(missing + "/model.safetensors cannot be opened") && "\(error)".contains("scripts/fetch-model.sh")
        }
        // With them, it opens on the sentence model.
        let reopened = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000))
        #expect(reopened.embeddings.active().embedder.identity == SentenceEmbedder.identity)
    }

    @Test func choosingTheSentenceModelWithoutItsFilesIsRefusedNamingThem() async throws {
        let harness = try await WebTestHarness()
        _ = try await harness.core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
        let root = try #require(try harness.core.accounts.user(named: "root"))
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-model-\(UUID().uuidString)").path
        let core = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000), sentenceModel: .at(missing))
        let choice = EmbedderChoice(provider: "builtin", model: SentenceEmbedder.model, dimension: 384)
        await #expect { try await core.reindexer.choose(choice, apiKey: nil, by: .member(root, of: organization.id, as: .admin)) } throws: { error in
            guard case let PortalError.invalid(detail) = error else { return false }
            return detail.contains(missing + "/model.safetensors")
        }
        #expect(core.embeddings.active().embedder.identity == HashingEmbedder().identity, "search goes on with what it had")
    }
}
