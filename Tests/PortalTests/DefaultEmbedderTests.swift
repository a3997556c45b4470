import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// The sentence model as the default embedder, adopted at start-up (`resumeAfterStart`): at
/// once on a new portal; by the background re-index, surviving a stop in the middle, on one
/// with conversations; never over an administrator's choice; and without its files either
/// refused (naming the file) or, when so configured, replaced by the hashing embedder until
/// the files are back. The model's files: `scripts/fetch-model.sh` (`make test` runs it).
@Suite struct DefaultEmbedderTests {
    static let sentenceModel = DefaultEmbedder.sentenceModel(fallbackToHashing: false)
    static let withFallback = DefaultEmbedder.sentenceModel(fallbackToHashing: true)

    struct World {
        let directory: String
        let environment: KV.Environment

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-default-embedder-\(UUID().uuidString)").path
            environment = try KV.Environment(directory: directory)
        }

        /// A portal on the data directory, as after a (re)start; `model`: where its files are.
        func core(model: SentenceModel = .at(), shutdownGrace: Duration = .seconds(5)) async throws -> PortalCore {
            try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000), sentenceModel: model,
                                 reindexRetryDelay: .milliseconds(20), shutdownGrace: shutdownGrace)
        }

        static let missing = SentenceModel.at(FileManager.default.temporaryDirectory.appendingPathComponent("no-model-\(UUID().uuidString)").path)
    }

    static func administrator(_ core: PortalCore) async throws -> Principal {
        _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
        let root = try #require(try core.accounts.user(named: "root"))
        let organization = try #require(try core.organizations.organization(slug: "default"))
        return .member(root, of: organization.id, as: .admin)
    }

    static func switches(_ core: PortalCore) throws -> [AuditEntry] {
        try core.audit.page(limit: 100) { $0.kind == EventKind.embeddingsChanged.rawValue }
    }

    @Test(.timeLimit(.minutes(2))) func aNewPortalSearchesWithTheSentenceModelFromTheStart() async throws {
        let world = try World()
        let core = try await world.core()
        #expect(core.embeddings.active().embedder.identity == HashingEmbedder().identity, "nothing is adopted on open")
        #expect(try await core.resumeAfterStart(defaultEmbedder: Self.sentenceModel).isEmpty)
        // Nothing was embedded: the model is active at once, no search waits for a re-index.
        #expect(core.embeddings.active().embedder.identity == SentenceEmbedder.identity)
        #expect(core.embeddings.currentStatus().next == nil)
        let principal = try await Self.administrator(core)
        let session = try await core.chat.create(title: "Storage", by: principal)
        _ = try await core.chat.append(.user, text: "The nightly backup failed because the bucket ran out of quota.", to: session.id, by: principal)
        _ = try await core.chat.append(.user, text: "Renew the TLS certificate on the mail server.", to: session.id, by: principal)
        let matches = try await core.chat.search("storage limit reached so the backup did not complete", for: principal)
        #expect(matches.first?.turn.text.contains("quota") == true)

        // The old generation's collections are dropped in the background; tools are embedded anew.
        let services = core.startServices()
        try await core.reindexer.waitUntilIdle()
        try await services.stop()
        #expect(try core.vectors.descriptor("tools") == nil && core.vectors.descriptor("chat-turns") == nil)
        #expect(try core.vectors.descriptor("tools.g1")?.embedder == SentenceEmbedder.identity)
        #expect(try core.vectors.ownerKeys("chat-turns.g1").count == 2)

        // A restart changes nothing, and the switch is in the audit trail once, by the portal.
        let restarted = try await world.core()
        try await restarted.resumeAfterStart(defaultEmbedder: Self.sentenceModel)
        #expect(restarted.embeddings.active().generation == 1 && restarted.embeddings.currentStatus().next == nil)
        let entries = try Self.switches(restarted)
        #expect(entries.count == 1 && entries.first?.principal == nil)
        #expect(entries.first?.detail.contains("the portal's default") == true)
    }

    @Test(.timeLimit(.minutes(4))) func aPortalWithConversationsReembedsThemInTheBackgroundThroughARestart() async throws {
        let world = try World()
        let before = try await world.core()
        try await before.resumeAfterStart(defaultEmbedder: .hashing)
        let principal = try await Self.administrator(before)
        let session = try await before.chat.create(title: "History", by: principal)
        let count = 600
        for number in 1...count { _ = try await before.chat.append(.user, text: "deploy release \(number) of the billing service to the staging cluster", to: session.id, by: principal) }
        _ = try await before.chat.append(.user, text: "The nightly backup failed because the bucket ran out of quota.", to: session.id, by: principal)

        // The upgrade: the first start with the sentence model as the default. Conversations
        // exist, so search goes on with the hashing vectors while the re-index runs.
        let upgraded = try await world.core(shutdownGrace: .zero)
        try await upgraded.resumeAfterStart(defaultEmbedder: Self.sentenceModel)
        #expect(upgraded.embeddings.active().embedder.identity == HashingEmbedder().identity)
        #expect(upgraded.embeddings.currentStatus().next == SentenceEmbedder.identity)
        let services = upgraded.startServices()
        // Polled until the re-index is under way (its progress is kept in memory only).
        while upgraded.embeddings.currentStatus().done == 0 { try await Task.sleep(for: .milliseconds(2)) }
        #expect(try await upgraded.chat.search("bucket quota", for: principal).first?.turn.text.contains("quota") == true,
                "search answers with the active (hashing) vectors meanwhile")
        // Stopped in the middle (as by SIGTERM, with no grace): the switch is still due.
        try await services.stop()
        #expect(upgraded.embeddings.active().generation == 0)
        #expect(upgraded.embeddings.currentStatus().done < count + 1)
        #expect(try upgraded.jobs.job(idempotencyKey: SearchReindexer.jobKind)?.state == .pending)

        // The next start finishes it: every turn in the model's collection, the old one gone.
        let restarted = try await world.core()
        try await restarted.resumeAfterStart(defaultEmbedder: Self.sentenceModel)
        #expect(restarted.embeddings.currentStatus().next == SentenceEmbedder.identity)
        let resumed = restarted.startServices()
        try await restarted.reindexer.waitUntilIdle()
        try await resumed.stop()
        #expect(restarted.embeddings.active().embedder.identity == SentenceEmbedder.identity && restarted.embeddings.active().generation == 1)
        #expect(try restarted.vectors.ownerKeys("chat-turns.g1").count == count + 1)
        #expect(try restarted.vectors.descriptor("chat-turns") == nil)
        let matches = try await restarted.chat.search("storage limit reached so the backup did not complete", for: principal)
        // The one distinct turn among 600 near-duplicates (exactly: an exact scan below 1,024).
        #expect(matches.first?.turn.text.contains("quota") == true, "\(matches.prefix(3).map { ($0.turn.text, $0.score) })")
        #expect(try Self.switches(restarted).count == 1, "the interrupted switch is the same switch")
    }

    @Test(.timeLimit(.minutes(3))) func withoutTheModelsFilesThePortalRefusesToStartOrFallsBackAsConfigured() async throws {
        let world = try World()
        let missing = World.missing
        // Not configured to fall back: refused, naming the file and how to restore it.
        let refused = try await world.core(model: missing)
        await #expect {
            try await refused.resumeAfterStart(defaultEmbedder: Self.sentenceModel)
        } throws: { error in
            "\(error)".contains(missing.directory + "/model.safetensors") && "\(error)".contains("scripts/fetch-model.sh")
                && "\(error)".contains("search.embedder_fallback")
        }
        // Configured to: search uses the hashing embedder, with a warning naming the file.
        let fallback = try await world.core(model: missing)
        let warnings = try await fallback.resumeAfterStart(defaultEmbedder: Self.withFallback)
        #expect(warnings.count == 1 && warnings[0].contains(missing.directory + "/model.safetensors"))
        #expect(fallback.embeddings.active().embedder.identity == HashingEmbedder().identity)
        let principal = try await Self.administrator(fallback)
        let session = try await fallback.chat.create(title: "Storage", by: principal)
        _ = try await fallback.chat.append(.user, text: "The nightly backup failed because the bucket ran out of quota.", to: session.id, by: principal)

        // The files are back: the next start adopts the model (re-embedding the turn).
        func start(_ model: SentenceModel) async throws -> (PortalCore, [String]) {
            let core = try await world.core(model: model)
            let warnings = try await core.resumeAfterStart(defaultEmbedder: Self.withFallback)
            let services = core.startServices()
            try await core.reindexer.waitUntilIdle()
            try await services.stop()
            return (core, warnings)
        }
        let (withModel, none) = try await start(.at())
        #expect(none.isEmpty && withModel.embeddings.active().embedder.identity == SentenceEmbedder.identity)
        #expect(try withModel.vectors.ownerKeys(SearchEmbeddings.collection("chat-turns", generation: withModel.embeddings.active().generation)).count == 1)

        // Gone again: back to hashing at once (the model's vectors cannot be searched without it).
        let (withoutModel, warned) = try await start(missing)
        #expect(warned.count == 1 && withoutModel.embeddings.active().embedder.identity == HashingEmbedder().identity)
        #expect(try await withoutModel.chat.search("bucket quota", for: principal).first?.turn.text.contains("quota") == true)

        // An administrator's choice is kept: hashing chosen by hand stays with the files back.
        let (again, _) = try await start(.at())
        #expect(again.embeddings.active().embedder.identity == SentenceEmbedder.identity)
        try await again.reindexer.choose(.hashing, apiKey: nil, by: principal)
        let services = again.startServices()
        try await again.reindexer.waitUntilIdle()
        try await services.stop()
        let (kept, _) = try await start(.at())
        #expect(kept.embeddings.active().embedder.identity == HashingEmbedder().identity)
        #expect(kept.embeddings.currentStatus().next == nil)

        let entries = try Self.switches(kept)
        #expect(entries.count == 4, "to the model, to hashing, to the model: by the portal; to hashing: by the administrator")
        #expect(entries.filter { $0.principal == nil }.count == 3)
    }
}
