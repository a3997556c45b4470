import Foundation
import KV
import Testing
import Vector
@testable import Portal

/// Conversations, the built-in embedder, search by meaning scoped to its owner, and the
/// assistant without a model.
@Suite struct ChatTests {
    @Test func theBuiltInEmbedderIsDeterministicNormalizedAndFindsParaphrases() async throws {
        let embedder = HashingEmbedder()
        let texts = ["Restart the web server on host 3", "please restart web servers", "list the object storage buckets", "", "!!!"]
        let vectors = try await embedder.embed(texts)
        #expect(try await embedder.embed(texts) == vectors, "deterministic")
        for vector in vectors {
            #expect(vector.count == 1536)
            let norm = vector.reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-4)
        }
        func similarity(_ a: Int, _ b: Int) -> Float { zip(vectors[a], vectors[b]).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(similarity(0, 1) > 0.3)
        #expect(similarity(0, 1) > similarity(0, 2) + 0.2)
        #expect(HashingEmbedder.words("Restarting the SERVERS, restarted!") == ["restart", "server", "restart"])
    }

    static func vector(_ seed: Int) -> [Float] { (0..<8).map { Float(sin(Double(seed * 8 + $0))) + 1.5 } }

    @Test func partitionsKeepSearchesToTheirMembers() async throws {
        let vector = Self.vector
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-partitions-\(UUID().uuidString)").path
        let environment = try KV.Environment(directory: directory)
        let collections = try VectorCollections(environment: environment)
        try await collections.create("docs", dimension: 8, metric: .cosine)
        try await environment.write { txn in
            for index in 0..<40 {
                try collections.upsert("docs", owner: "doc-\(index)", partition: index % 2 == 0 ? "even" : "odd", vector: vector(index), in: txn)
            }
        }
        let even = try collections.search("docs", vector: vector(3), k: 10, partitions: ["even"])
        #expect(even.count == 10 && even.allSatisfy { Int($0.owner.dropFirst(4))! % 2 == 0 })
        #expect(try collections.search("docs", vector: vector(3), k: 50, partitions: ["even", "odd"]).count == 40)
        #expect(try collections.search("docs", vector: vector(3), k: 5, partitions: ["nobody"]).isEmpty)

        // Moving a vector to another partition, and a rolled-back change, keep the cached sets right.
        try await environment.write { txn in try collections.upsert("docs", owner: "doc-0", partition: "odd", vector: vector(0), in: txn) }
        #expect(!(try collections.search("docs", vector: vector(0), k: 40, partitions: ["even"]).contains { $0.owner == "doc-0" }))
        #expect(try collections.search("docs", vector: vector(0), k: 40, partitions: ["odd"]).contains { $0.owner == "doc-0" })
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await environment.write { txn in
                try collections.upsert("docs", owner: "doc-99", partition: "even", vector: vector(99), in: txn)
                throw Abort()
            }
        }
        #expect(try collections.search("docs", vector: vector(99), k: 40, partitions: ["even"]).count == 19)
        try await environment.write { txn in _ = try collections.remove("docs", owner: "doc-2", in: txn) }
        #expect(try collections.search("docs", vector: vector(2), k: 40, partitions: ["even"]).count == 18)

        // After a restart the partitions come from storage.
        environment.close()
        let reopened = try KV.Environment(directory: directory)
        let again = try VectorCollections(environment: reopened)
        _ = try again.load()
        #expect(try again.search("docs", vector: vector(3), k: 40, partitions: ["even"]).count == 18)
        #expect(try again.search("docs", vector: vector(3), k: 40, partitions: ["odd"]).count == 21)
    }

    @Test func conversationsBelongToTheirOwnerAndAreFoundByMeaning() async throws {
        let world = try await ToolRunTests.World()
        let chat = world.core.chat
        let olga = world.operator_, vic = world.viewer, ada = world.admin

        let disk = try await chat.create(title: "Disk trouble", by: olga)
        _ = try await chat.append(.user, text: "The database host is running out of disk space on /var", to: disk.id, by: olga)
        let other = try await chat.create(title: "Buckets", by: olga)
        _ = try await chat.append(.user, text: "Which object storage buckets are public?", to: other.id, by: olga)
        let vics = try await chat.create(title: "Vic's", by: vic)
        _ = try await chat.append(.user, text: "Disk space alarms on the web tier", to: vics.id, by: vic)

        #expect(try chat.list(for: olga, limit: 10).map(\.id) == [other.id, disk.id], "newest first")
        #expect(try chat.list(for: olga, limit: 1).map(\.id) == [other.id])
        #expect(try chat.list(for: olga, limit: 10, before: other.id).map(\.id) == [disk.id])

        // A paraphrase finds the right conversation, and only the caller's own.
        let found = try await chat.search("storage almost full on the db server", for: olga)
        #expect(found.first?.session.id == disk.id)
        #expect(!found.contains { $0.session.id == vics.id })
        let vicsResults = try await chat.search("disk space", for: vic)
        #expect(!vicsResults.isEmpty, "vic finds her own conversation")
        #expect(vicsResults.allSatisfy { $0.session.ownerID == vic.user.id })
        // Admins with sessions:read-all search the organization's conversations.
        #expect(Set(try await chat.search("disk space", for: ada).map(\.session.id)).isSuperset(of: [disk.id, vics.id]))

        // Others cannot read, rename or delete a session: it does not exist for them.
        #expect(throws: PortalError.notFound("session")) { try chat.session(disk.id, for: vic) }
        await #expect(throws: PortalError.notFound("session")) { try await chat.rename(disk.id, to: "mine now", by: vic) }
        await #expect(throws: PortalError.notFound("session")) { try await chat.delete(disk.id, by: ada) }
        await #expect(throws: PortalError.notFound("session")) { _ = try await chat.append(.user, text: "hi", to: disk.id, by: ada) }
        #expect(try await chat.rename(disk.id, to: "Disk on db-1", by: olga).title == "Disk on db-1")
        await #expect(throws: PortalError.invalid("title must not be empty")) { try await chat.rename(disk.id, to: "   ", by: olga) }

        // After a restart: the conversations, their turns and their index are all still there.
        let restarted = try await PortalCore(environment: world.core.environment, passwordHasher: PasswordHasher(iterations: 1_000))
        #expect(try restarted.chat.list(for: olga, limit: 10).map(\.id) == [other.id, disk.id])
        #expect(try restarted.chat.turns(of: disk.id).map(\.text) == ["The database host is running out of disk space on /var"])
        #expect(try await restarted.chat.search("storage almost full on the db server", for: olga).first?.session.id == disk.id)

        try await chat.delete(disk.id, by: olga)
        #expect(try chat.list(for: olga, limit: 10).map(\.id) == [other.id])
        #expect(!(try await chat.search("database host disk space", for: olga)).contains { $0.session.id == disk.id }, "its turns left the index")
        #expect(try chat.turns(of: disk.id).isEmpty)
    }

    /// The tool index catches up with a pack installed after the first search.
    @Test func aPackInstalledAfterTheFirstSearchIsFoundByMeaning() async throws {
        let world = try await ToolRunTests.World()
        let search = world.core.toolSearch
        // The first search builds the index (it finds the host pack's tools), before the pack exists.
        #expect(try await search.suggest("check disk usage", in: world.organization.id).first?.tool.name == "host.disk-usage")
        #expect(try await !search.suggest("open an incident ticket", in: world.organization.id).contains { $0.tool.name.hasPrefix("itsm.") })
        let root = try #require(try world.core.accounts.user(named: "root"))
        let pack = try JSONDecoder().decode(ToolPack.self, from: Data(#"""
        {"name":"itsm","title":"ITSM","version":"1","description":"","tools":[{"name":"itsm.open-incident","title":"Open an incident ticket",
         "description":"Opens an incident ticket for an outage","category":"ITSM","risk":"low","inputSchema":{"type":"object"},"executor":{"type":"builtin","name":"host.kernel"}}]}
        """#.utf8))
        let rootPrincipal = Principal(user: root, organizationID: world.organization.id, role: nil, sessionKey: nil, csrfToken: nil)
        try await world.core.tools.install(pack, by: rootPrincipal)
        try await world.core.tools.setAvailability(pack: "itsm", to: [world.organization.id], by: rootPrincipal)
        try await world.core.tools.setEnabled(true, pack: "itsm", by: world.admin)
        #expect(try await search.suggest("open an incident ticket", in: world.organization.id).first?.tool.name == "itsm.open-incident")
    }

    @Test func theAssistantWithoutAModelSuggestsToolsAndRunsSlashCommands() async throws {
        let world = try await ToolRunTests.World()
        let session = try await world.core.chat.create(title: "Help", by: world.operator_)
        let assistant = world.core.assistant

        let suggestion = try await assistant.replyAndWait(to: "how full are the disks on this machine?", in: session.id, by: world.operator_, requestID: "r1")
        #expect(suggestion.map(\.role) == [.user, .assistant])
        #expect(suggestion[1].text.hasPrefix("No language model is configured"))
        #expect(suggestion[1].suggestedTools.contains("host.disk-usage"), "\(suggestion[1].suggestedTools)")

        let nothing = try await assistant.replyAndWait(to: "bake a chocolate cake", in: session.id, by: world.operator_, requestID: "r2")
        #expect(nothing[1].suggestedTools.isEmpty && nothing[1].text.contains("no tool"))

        let ran = try await assistant.replyAndWait(to: "/host.memory", in: session.id, by: world.operator_, requestID: "r3")
        let runID = try #require(ran[1].runID.flatMap(TimeOrderedID.init))
        let run = try #require(try world.core.runs.run(runID, in: world.organization.id))
        #expect(run.entryPoint == .chat && run.status == .succeeded)
        #expect(ran[1].text.hasPrefix("Memory usage succeeded."))

        let risky = try await assistant.replyAndWait(to: #"/host.signal-process {"pid": 999999}"#, in: session.id, by: world.operator_, requestID: "r4")
        #expect(risky[1].text.contains("needs an approval"))
        let viewersSession = try await world.core.chat.create(title: "Mine", by: world.viewer)
        let refused = try await assistant.replyAndWait(to: "/host.memory", in: viewersSession.id, by: world.viewer, requestID: "r5")
        #expect(refused[1].text.contains("I could not run /host.memory") && refused[1].runID == nil)
        await #expect(throws: ToolError.self) { try await assistant.replyAndWait(to: "/host.tcp-check {not json", in: session.id, by: world.operator_, requestID: "r6") }

        // The conversation is kept, in order.
        let turns = try world.core.chat.turns(of: session.id)
        #expect(turns.count == 8 && turns.first?.text == "how full are the disks on this machine?", "the malformed command stored nothing")
    }

    /// What the model is shown: each call followed by its latest result, paired with the
    /// assistant turn that made it even when a server reuses call ids; failure turns left out.
    @Test func theModelSeesEachCallWithItsOwnResult() throws {
        let session = TimeOrderedID.generate()
        var clock = Date(timeIntervalSince1970: 1_000_000)
        func turn(_ role: ChatTurn.Role, _ text: String, calls: [ChatToolCall]? = nil, answering: String? = nil, failed: Bool? = nil) -> ChatTurn {
            clock += 1
            return ChatTurn(id: TimeOrderedID.generate(now: clock), sessionID: session, role: role, text: text, suggestedTools: [], runID: nil,
                            toolCalls: calls, toolCallID: answering, runStatus: nil, failed: failed, createdAt: clock)
        }
        let turns = [
            turn(.user, "load?"), turn(.assistant, "", calls: [ChatToolCall(id: "call_0", tool: "host.load", arguments: "{}")]),
            turn(.tool, "load 0.5", answering: "call_0"), turn(.assistant, "Load is 0.5."),
            turn(.user, "stop 42"), turn(.assistant, "", calls: [ChatToolCall(id: "call_0", tool: "host.signal-process", arguments: #"{"pid":42}"#)]),
            turn(.tool, "waiting for approval", answering: "call_0"), turn(.tool, "failed: no process 42", answering: "call_0"),
            turn(.assistant, "The model server could not answer.", failed: true),
        ]
        let messages = Assistant.messages(from: turns, organization: "Ops", user: "olga")
        #expect(messages.map(\.role) == [.system, .user, .assistant, .tool, .assistant, .user, .assistant, .tool])
        #expect(messages[2].toolCalls.map(\.name) == ["host_load"] && messages[3].content == "load 0.5", "the first call keeps its own result")
        #expect(messages[7].content == "failed: no process 42" && messages[7].toolCallID == "call_0", "the latest result of the second call")
    }
}
