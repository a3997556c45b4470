public import FoundationEssentials
public import KV
import Vector

/// A conversation, owned by one person in one organization.
public struct ChatSession: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: TimeOrderedID
    public let organizationID: UUID
    public let ownerID: UUID
    public var title: String
    public let createdAt: Date
    public var updatedAt: Date
    public var turnCount: Int
}

/// A tool the model asked to run from a conversation.
public struct ChatToolCall: Codable, Sendable, Equatable {
    /// The model's id for the call; the tool turn with the same `toolCallID` answers it.
    public var id: String
    /// The portal's tool name.
    public var tool: String
    /// The arguments as the model wrote them (JSON text).
    public var arguments: String
}

/// One message of a conversation: what a person wrote, what the assistant answered (text,
/// tool calls or both), or what a tool call gave back (`tool`).
public struct ChatTurn: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable, CaseIterable { case user, assistant, tool }

    public var schemaVersion = 1
    public let id: TimeOrderedID
    public let sessionID: TimeOrderedID
    public let role: Role
    public let text: String
    /// Tools the assistant proposes (the no-model assistant's suggestions), by name.
    public var suggestedTools: [String]
    /// The run a turn started, when it ran a tool.
    public var runID: String?
    /// Assistant turns: the tools the model asked to run.
    public var toolCalls: [ChatToolCall]?
    /// Tool turns: the call this answers. A later tool turn for the same call (the result
    /// after an approval) supersedes an earlier one (waiting for approval).
    public var toolCallID: String?
    /// Tool turns: the run's status when the turn was written.
    public var runStatus: String?
    /// Assistant turns that report a failure of the model server; never shown to the model.
    public var failed: Bool?
    public let createdAt: Date

    /// What to append; the id, session and time are set by `ChatSessions.append`.
    public struct Draft: Sendable {
        public var role: Role
        public var text: String
        public var suggestedTools: [String] = []
        public var runID: String? = nil
        public var toolCalls: [ChatToolCall]? = nil
        public var toolCallID: String? = nil
        public var runStatus: String? = nil
        public var failed: Bool? = nil

        public init(role: Role, text: String, suggestedTools: [String] = [], runID: String? = nil, toolCalls: [ChatToolCall]? = nil,
                    toolCallID: String? = nil, runStatus: String? = nil, failed: Bool? = nil) {
            self.role = role
            self.text = text
            self.suggestedTools = suggestedTools
            self.runID = runID
            self.toolCalls = toolCalls
            self.toolCallID = toolCallID
            self.runStatus = runStatus
            self.failed = failed
        }
    }

    /// Whether search indexes it: what people and the assistant said, not tool output.
    var isSearchable: Bool { role != .tool && !text.isEmpty && failed != true }
}

/// Conversations and their turns, with every turn indexed for search by meaning.
///
/// Guarantees: a turn and its vector are written in one transaction (a crash never leaves a
/// turn unsearchable or a vector without its turn); only the owner sees, renames or deletes a
/// session (others get `notFound`, as if it did not exist), and a search returns only the
/// caller's own turns (or, with `sessions:read-all`, the organization's); deleting a session
/// deletes its turns and their vectors in one transaction.
public final class ChatSessions: Sendable {
    let environment: Environment
    let outbox: Outbox
    let sessions: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<ChatSession>>
    /// (organization, owner, session) → nothing: a person's sessions, newest first by id.
    let byOwner: Table<CompositeKey3<UUID, UUID, TimeOrderedID>, RawBytes>
    let turns: Table<CompositeKey<TimeOrderedID, TimeOrderedID>, JSONValue<ChatTurn>>
    let vectors: VectorCollections
    let organizations: Organizations
    let embeddings: SearchEmbeddings
    static let baseCollection = "chat-turns"

    init(environment: Environment, vectors: VectorCollections, organizations: Organizations, embeddings: SearchEmbeddings, outbox: Outbox) throws {
        self.environment = environment
        self.outbox = outbox
        self.vectors = vectors
        self.organizations = organizations
        self.embeddings = embeddings
        sessions = try environment.table("chat_sessions", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<ChatSession>.self)
        byOwner = try environment.table("chat_sessions_by_owner", key: CompositeKey3<UUID, UUID, TimeOrderedID>.self, value: RawBytes.self)
        turns = try environment.table("chat_turns", key: CompositeKey<TimeOrderedID, TimeOrderedID>.self, value: JSONValue<ChatTurn>.self)
    }

    /// The active generation's turns collection and embedder, the collection created on first use.
    func prepare() async throws -> (collection: String, embedder: any Embedder, generation: Int) {
        let (embedder, generation) = embeddings.active()
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        try await vectors.createIfMissing(collection, dimension: embedder.identity.dimension, metric: .cosine, embedder: embedder.identity)
        return (collection, embedder, generation)
    }

    private struct GenerationChanged: Error {}

    /// Runs `body` against the active generation, again when a switch of embeddings provider
    /// commits in between: `body`'s write checks the committed generation (`current`), so a
    /// vector never lands in a collection the switch has retired.
    private func inActiveGeneration<R>(_ body: (_ collection: String, _ embedder: any Embedder, _ current: @escaping @Sendable (borrowing WriteTransaction) throws -> Void) async throws -> R) async throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            let (collection, embedder, generation) = try await prepare()
            let current: @Sendable (borrowing WriteTransaction) throws -> Void = { [embeddings] txn in
                guard try embeddings.committedGeneration(txn) == generation else { throw GenerationChanged() }
            }
            do {
                return try await body(collection, embedder, current)
            } catch is GenerationChanged where attempt < 3 {
                continue
            }
        }
    }

    static func partition(organization: UUID, owner: UUID) -> String { "\(organization)/\(owner)" }

    private static func validTitle(_ title: String) throws -> String {
        let trimmed = String(title.drop { $0 == " " }).prefix(200)
        guard !trimmed.isEmpty else { throw PortalError.invalid("title must not be empty") }
        return String(trimmed)
    }

    public func create(title: String, by principal: Principal, now: Date = Date()) async throws -> ChatSession {
        guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
        let session = ChatSession(id: TimeOrderedID.generate(now: now), organizationID: organizationID, ownerID: principal.user.id,
                                  title: try Self.validTitle(title), createdAt: now, updatedAt: now, turnCount: 0)
        try await environment.write { [self] txn in
            try txn.put(sessions, (organizationID, session.id), session)
            try txn.put(byOwner, (organizationID, principal.user.id, session.id), [])
        }
        return session
    }

    /// The session when the principal owns it (or may read all sessions, for reading only).
    public func session(_ id: TimeOrderedID, for principal: Principal, reading: Bool = true) throws -> ChatSession {
        guard let organizationID = principal.organizationID,
              let session = try environment.read({ txn in try txn.get(sessions, (organizationID, id)) }),
              session.ownerID == principal.user.id || (reading && principal.has(.sessionsReadAll))
        else { throw PortalError.notFound("session") }
        return session
    }

    /// The principal's sessions, newest first; `before` continues a page.
    public func list(for principal: Principal, limit: Int, before: TimeOrderedID? = nil) throws -> [ChatSession] {
        guard let organizationID = principal.organizationID else { return [] }
        return try environment.read { txn in
            var result: [ChatSession] = []
            try txn.forEach(byOwner, from: (organizationID, principal.user.id, .lowest), to: (organizationID, principal.user.id, before ?? .highest), direction: .reverse) { (key, _) throws(KVError) in
                if let session = try txn.get(sessions, (organizationID, key.2)) { result.append(session) }
                return result.count < limit
            }
            return result
        }
    }

    /// Renames a conversation (its owner only). `precondition` runs on the stored session
    /// inside the write (a lost-update check): when it throws, nothing changes.
    public func rename(_ id: TimeOrderedID, to title: String, by principal: Principal,
                       precondition: (@Sendable (ChatSession) throws -> Void)? = nil) async throws -> ChatSession {
        let owned = try session(id, for: principal, reading: false)
        let title = try Self.validTitle(title)
        return try await environment.write { [sessions] txn in
            guard var session = try txn.get(sessions, (owned.organizationID, owned.id)) else { throw PortalError.notFound("session") }
            try precondition?(session)
            session.title = title
            session.updatedAt = Date()
            try txn.put(sessions, (session.organizationID, session.id), session)
            return session
        }
    }

    /// Deletes the session, its turns and their vectors (owner only).
    public func delete(_ id: TimeOrderedID, by principal: Principal) async throws {
        let session = try session(id, for: principal, reading: false)
        let turnIDs = try self.turns(of: id).map(\.id)
        try await inActiveGeneration { collection, _, current in
            try await environment.write { [self] txn in
                try current(txn)
                for turnID in turnIDs {
                    _ = try txn.delete(turns, (id, turnID))
                    try vectors.remove(collection, owner: Self.owner(session: id, turn: turnID), in: txn)
                }
                _ = try txn.delete(sessions, (session.organizationID, id))
                _ = try txn.delete(byOwner, (session.organizationID, session.ownerID, id))
            }
        }
    }

    public func turns(of sessionID: TimeOrderedID) throws -> [ChatTurn] {
        try environment.read { txn in
            var result: [ChatTurn] = []
            try txn.forEach(turns, prefix: CompositeKey<TimeOrderedID, TimeOrderedID>.prefix(sessionID)) { (_, turn) throws(KVError) in
                result.append(turn)
                return true
            }
            return result
        }
    }

    static func owner(session: TimeOrderedID, turn: TimeOrderedID) -> String { "\(session)/\(turn)" }

    /// Appends a turn to the principal's session and indexes it, in one transaction.
    public func append(_ role: ChatTurn.Role, text: String, to sessionID: TimeOrderedID, by principal: Principal,
                       suggestedTools: [String] = [], runID: String? = nil, now: Date = Date()) async throws -> ChatTurn {
        try await append(ChatTurn.Draft(role: role, text: text, suggestedTools: suggestedTools, runID: runID), to: sessionID, by: principal, now: now)
    }

    /// Appends a turn to the principal's session and indexes it (when it is searchable), in
    /// one transaction. A person's message is 1 byte to 32 KiB; other turns at most 32 KiB
    /// (longer tool output is cut).
    public func append(_ draft: ChatTurn.Draft, to sessionID: TimeOrderedID, by principal: Principal, now: Date = Date()) async throws -> ChatTurn {
        var text = draft.text
        if draft.role == .user {
            guard !text.isEmpty, text.utf8.count <= 32 * 1024 else { throw PortalError.invalid("a message is 1 byte to 32 KiB") }
        } else if text.utf8.count > 32 * 1024 {
            text = String(decoding: text.utf8.prefix(32 * 1024 - 64), as: UTF8.self) + "\n… (cut at 32 KiB)"
        }
        var session = try session(sessionID, for: principal, reading: false)
        let turn = ChatTurn(id: TimeOrderedID.generate(now: now), sessionID: sessionID, role: draft.role, text: text,
                            suggestedTools: draft.suggestedTools, runID: draft.runID, toolCalls: draft.toolCalls, toolCallID: draft.toolCallID,
                            runStatus: draft.runStatus, failed: draft.failed, createdAt: now)
        session.turnCount += 1
        session.updatedAt = now
        let updated = session
        try await inActiveGeneration { collection, embedder, current in
            let vector = turn.isSearchable ? try await embedder.embed([text])[0] : nil
            try await environment.write { [self] txn in
                try current(txn)
                guard try txn.exists(sessions, (updated.organizationID, sessionID)) else { throw PortalError.notFound("session") }
                try txn.put(turns, (sessionID, turn.id), turn)
                try txn.put(sessions, (updated.organizationID, sessionID), updated)
                try outbox.record(.chatTurn(ChatTurnEvent(sessionID: sessionID, turnID: turn.id, ownerID: updated.ownerID, role: turn.role,
                                                          runID: turn.runID, runStatus: turn.runStatus)),
                                  organizationID: updated.organizationID, time: now, in: txn)
                if let vector {
                    try vectors.upsert(collection, owner: Self.owner(session: sessionID, turn: turn.id),
                                       partition: Self.partition(organization: updated.organizationID, owner: updated.ownerID), vector: vector, in: txn)
                }
            }
        }
        return turn
    }

    /// A turn found by meaning.
    public struct Match: Sendable {
        public let session: ChatSession
        public let turn: ChatTurn
        public let score: Float
    }

    /// The graph search's width (ef) for turns.
    public let searchWidth = 64

    /// The index partitions a principal's search covers: their own conversations, or with
    /// `sessions:read-all` the organization's.
    public func searchablePartitions(for principal: Principal) throws -> [String] {
        guard let organizationID = principal.organizationID else { return [] }
        let own = Self.partition(organization: organizationID, owner: principal.user.id)
        guard principal.has(.sessionsReadAll) else { return [own] }
        return try organizations.members(of: organizationID).map { Self.partition(organization: organizationID, owner: $0.user.id) } + [own]
    }

    /// The caller's turns closest in meaning to `query` (the organization's, with
    /// `sessions:read-all`), re-ranked so that turns sharing the query's words come first
    /// among near ties.
    public func search(_ query: String, for principal: Principal, limit: Int = 10) async throws -> [Match] {
        do {
            return try await searchActiveGeneration(query, for: principal, limit: limit)
        } catch VectorError.unknownCollection {
            // A switch of embeddings provider dropped the collection under this search: again, on the new one.
            return try await searchActiveGeneration(query, for: principal, limit: limit)
        }
    }

    private func searchActiveGeneration(_ query: String, for principal: Principal, limit: Int) async throws -> [Match] {
        let (embedder, generation) = embeddings.active()
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        guard let organizationID = principal.organizationID, (try? vectors.index(collection)) != nil else { return [] }
        let partitions = try searchablePartitions(for: principal)
        let vector = try await embedder.embed([query])[0]
        let hits = try vectors.search(collection, vector: vector, k: max(limit * 4, 40), ef: searchWidth, partitions: partitions)
        let queryWords = Set(HashingEmbedder.words(query))
        return try environment.read { txn in
            var matches: [Match] = []
            for hit in hits {
                let parts = hit.owner.split(separator: "/")
                guard parts.count == 2, let sessionID = TimeOrderedID(String(parts[0])), let turnID = TimeOrderedID(String(parts[1])),
                      let turn = try txn.get(turns, (sessionID, turnID)), let session = try txn.get(sessions, (organizationID, sessionID))
                else { continue }
                let shared = queryWords.isEmpty ? 0 : Float(queryWords.intersection(HashingEmbedder.words(turn.text)).count) / Float(queryWords.count)
                matches.append(Match(session: session, turn: turn, score: (1 - hit.distance) + 0.15 * shared))
            }
            return Array(matches.sorted { $0.score > $1.score }.prefix(limit))
        }
    }

    // MARK: Re-embedding

    /// Every searchable turn, with the partition its vector belongs to.
    private func searchableTurns() throws -> [(owner: String, partition: String, text: String, key: (TimeOrderedID, TimeOrderedID))] {
        try environment.read { txn in
            var partitions: [TimeOrderedID: String] = [:]
            try txn.forEach(sessions) { (_, session) throws(KVError) in
                partitions[session.id] = Self.partition(organization: session.organizationID, owner: session.ownerID)
                return true
            }
            var result: [(owner: String, partition: String, text: String, key: (TimeOrderedID, TimeOrderedID))] = []
            try txn.forEach(turns) { (_, turn) throws(KVError) in
                if turn.isSearchable, let partition = partitions[turn.sessionID] {
                    result.append((Self.owner(session: turn.sessionID, turn: turn.id), partition, turn.text, (turn.sessionID, turn.id)))
                }
                return true
            }
            return result
        }
    }

    /// Builds generation `generation`'s turns collection with `embedder`: every turn embedded
    /// in batches (a failing batch is retried after `retryDelay`, with the problem reported),
    /// the graph built in memory and stored in chunks, then brought up to date with the turns
    /// written or deleted meanwhile. Searches keep using the active collection throughout.
    func rebuild(generation: Int, embedder: any Embedder, batch: Int = 64, retryDelay: Duration = .seconds(30),
                 progress: @Sendable (_ done: Int, _ total: Int, _ problem: String?) -> Void) async throws {
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        try await vectors.drop(collection)  // the remains of an interrupted attempt
        let all = try searchableTurns()
        let index = HNSWIndex(dimension: embedder.identity.dimension, metric: .cosine)
        var owners: [String] = [], partitions: [String] = []
        progress(0, all.count, nil)
        var start = 0
        while start < all.count {
            try Task.checkCancellation()  // the portal stops: the switch starts over at the next start
            let slice = all[start..<min(start + batch, all.count)]
            let vectors: [[Float]]
            do {
                vectors = try await embedder.embed(slice.map(\.text))
            } catch let error as EmbeddingError {
                progress(start, all.count, error.description)
                try await Task.sleep(for: retryDelay)
                continue
            }
            let ids = try index.insert(contentsOf: vectors, threads: 1)
            for (id, entry) in zip(ids, slice) {
                precondition(Int(id) == owners.count, "fresh index ids are dense")
                owners.append(entry.owner)
                partitions.append(entry.partition)
            }
            start += slice.count
            progress(start, all.count, nil)
        }
        let ownerList = owners, partitionList = partitions
        try await vectors.importIndex(collection, index, embedder: embedder.identity, owner: { ownerList[Int($0)] }, partition: { partitionList[Int($0)] })
        try await catchUp(collection, embedder: embedder)
    }

    /// Adds the turns that `collection` misses and removes the vectors of deleted turns.
    func catchUp(_ collection: String, embedder: any Embedder) async throws {
        let wanted = try searchableTurns()
        let present = try vectors.ownerKeys(collection)
        let missing = wanted.filter { !present.contains($0.owner) }
        let stale = present.subtracting(wanted.map(\.owner))
        let embedded = missing.isEmpty ? [] : try await embedder.embed(missing.map(\.text))
        try await environment.write { [self] txn in
            // A turn deleted while it was being embedded stays out.
            for (entry, vector) in zip(missing, embedded) where try txn.exists(turns, entry.key) {
                try vectors.upsert(collection, owner: entry.owner, partition: entry.partition, vector: vector, in: txn)
            }
            for owner in stale { _ = try vectors.remove(collection, owner: owner, in: txn) }
        }
    }
}
