import FoundationEssentials
import KV
import Synchronization

/// An embeddings provider as an administrator chooses it.
public struct EmbedderChoice: Codable, Sendable, Equatable {
    /// `builtin` (no network: `hashing-v1`, feature hashing, or `all-MiniLM-L6-v2`, the sentence
    /// model in the binary) or `openai-compatible`.
    public var provider: String
    /// For `openai-compatible`: the API root, such as `https://api.openai.com/v1`.
    public var baseURL: String
    public var model: String
    public var dimension: Int

    public init(provider: String, baseURL: String = "", model: String, dimension: Int = 1536) {
        self.provider = provider
        self.baseURL = baseURL
        self.model = model
        self.dimension = dimension
    }

    /// Feature hashing, 1536 dimensions: exact words and their synonyms only.
    public static let hashing = EmbedderChoice(provider: "builtin", model: "hashing-v1")
    /// The sentence model in the binary, 384 dimensions: the default.
    public static let sentenceModel = EmbedderChoice(provider: "builtin", model: SentenceEmbedder.model, dimension: SentenceEmbedder.identity.dimension)

    /// Throws `PortalError.invalid` naming the field.
    func validate() throws {
        guard (8...4096).contains(dimension) else { throw PortalError.invalid("dimension must be 8–4096") }
        switch provider {
        case "builtin" where model == SentenceEmbedder.model:
            guard dimension == SentenceEmbedder.identity.dimension else {
                throw PortalError.invalid("dimension of \(SentenceEmbedder.model) is \(SentenceEmbedder.identity.dimension)")
            }
        case "builtin":
            guard model == "hashing-v1" else { throw PortalError.invalid("model of the builtin provider is hashing-v1 or \(SentenceEmbedder.model)") }
        case "openai-compatible":
            guard OutboundHTTP.isAPIRoot(baseURL) else { throw PortalError.invalid("baseURL must be an http or https URL without query or fragment") }
            guard (1...200).contains(model.count) else { throw PortalError.invalid("model is required (at most 200 characters)") }
        default:
            throw PortalError.invalid("provider must be builtin or openai-compatible")
        }
    }

    /// Which vectors this choice gives (without loading a model).
    var identity: EmbedderIdentity {
        switch (provider, model) {
        case ("builtin", SentenceEmbedder.model): SentenceEmbedder.identity
        case ("builtin", _): HashingEmbedder(dimension: dimension).identity
        default: EmbedderIdentity(provider: provider, model: model, dimension: dimension)
        }
    }

    /// The sentence model is loaded at its first embedding (see `SentenceEmbedder`).
    func embedder(apiKey: String?, sentenceModel: SentenceModel) -> any Embedder {
        switch (provider, model) {
        case ("builtin", SentenceEmbedder.model): SentenceEmbedder(files: sentenceModel)
        case ("builtin", _): HashingEmbedder(dimension: dimension)
        default: OpenAICompatibleEmbedder(baseURL: baseURL, model: model, dimension: dimension, apiKey: apiKey)
        }
    }
}

/// Where a change of embeddings provider stands.
public struct EmbeddingStatus: Sendable, Equatable, Encodable {
    public var active: EmbedderIdentity
    /// The provider being switched to, while its vectors are computed.
    public var next: EmbedderIdentity?
    public var done = 0
    public var total = 0
    /// The last failure of the re-embedding, while it retries.
    public var problem: String?
}

/// The embedder search uses where no administrator chose one (`portal serve` adopts it at
/// start-up: `SearchReindexer.adopt`).
public enum DefaultEmbedder: Sendable, Equatable {
    /// The sentence model in the binary. Without its files the portal does not start, unless
    /// `fallbackToHashing`: then search uses the hashing embedder (with a warning) until the
    /// files are back.
    case sentenceModel(fallbackToHashing: Bool)
    /// Feature hashing (tests that pin exact-word ranking).
    case hashing

    var choice: EmbedderChoice {
        switch self {
        case .sentenceModel: .sentenceModel
        case .hashing: .hashing
        }
    }

    var fallsBackToHashing: Bool { self == .sentenceModel(fallbackToHashing: true) }
}

/// Which embedder search uses, and the switch to another one.
///
/// Guarantees: every vector collection of search belongs to one generation, whose embedder
/// is recorded in the collection's descriptor; searches and new records use the active
/// generation until the next one is complete, then all at once; a switch survives a restart
/// (it starts over); the provider's API key is sealed; a choice an administrator made is
/// kept (the portal's own choice follows `DefaultEmbedder`).
public final class SearchEmbeddings: Sendable {
    struct State: Codable, Sendable {
        var schemaVersion = 1
        var active: EmbedderChoice
        var generation: Int
        var next: EmbedderChoice?
        /// A generation switched away from whose collections are still to be dropped.
        var retiring: Int?
        /// `true` when the portal chose the provider (`next`, else `active`) by itself, as
        /// its default or as the fallback; `nil` when an administrator did.
        var automatic: Bool?
    }

    let environment: Environment
    let secrets: Secrets
    let events: SecurityEvents
    let table: Table<StringKey, JSONValue<State>>
    let sentenceModel: SentenceModel
    /// The active embedder and its generation, as committed.
    private let current: Mutex<(embedder: any Embedder, generation: Int)>
    /// The switch under way: where to, and how far (the active provider is `current`'s).
    private let progress: Mutex<(next: EmbedderIdentity?, done: Int, total: Int, problem: String?)>

    /// Before any choice, search uses the hashing embedder (generation 0).
    init(environment: Environment, secrets: Secrets, events: SecurityEvents, sentenceModel: SentenceModel) throws {
        self.environment = environment
        self.secrets = secrets
        self.events = events
        self.sentenceModel = sentenceModel
        let table = try environment.table("search_embeddings", key: StringKey.self, value: JSONValue<State>.self)
        self.table = table
        let state = try environment.read { txn in try txn.get(table, "state") }
        let embedder = try state.map { $0.active.embedder(apiKey: try secrets.get(Self.keyName($0.generation)), sentenceModel: sentenceModel) } ?? HashingEmbedder()
        current = Mutex((embedder, state?.generation ?? 0))
        progress = Mutex((nil, 0, 0, nil))
    }

    static func keyName(_ generation: Int) -> String { "embeddings.api-key.g\(generation)" }

    /// The active embedder and generation.
    public func active() -> (embedder: any Embedder, generation: Int) { current.withLock { $0 } }

    /// A collection's name in a generation (generation 0 keeps the original name).
    static func collection(_ base: String, generation: Int) -> String { generation == 0 ? base : "\(base).g\(generation)" }

    public func currentStatus() -> EmbeddingStatus {
        let progress = progress.withLock { $0 }
        return EmbeddingStatus(active: active().embedder.identity, next: progress.next, done: progress.done, total: progress.total, problem: progress.problem)
    }

    func state() throws -> State? { try environment.read { txn in try txn.get(table, "state") } }

    /// The generation committed in storage, read inside a write: writers of vectors check it
    /// there, so none writes into a generation that a switch has just retired.
    func committedGeneration(_ txn: borrowing WriteTransaction) throws -> Int {
        try txn.get(table, "state")?.generation ?? 0
    }

    /// Records the switch to `choice` (the re-embedding is `SearchReindexer`'s). `apiKey`: the
    /// new provider's key, if it needs one. Throws `PortalError.conflict` while a switch runs
    /// or when search already uses that provider.
    func choose(_ choice: EmbedderChoice, apiKey: String?, by actor: Principal) async throws -> (embedder: any Embedder, generation: Int) {
        try choice.validate()
        let active = active().embedder
        let identity = choice.identity
        guard identity != active.identity else { throw PortalError.conflict("search already uses \(active.identity)") }
        if identity == SentenceEmbedder.identity, let problem = sentenceModel.problem() { throw PortalError.invalid("model: \(problem)") }
        let event = SecurityEvent(kind: .embeddingsChanged, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "switching search from \(active.identity) to \(identity)")
        return try await record(choice, apiKey: apiKey, automatic: nil, event: event)
    }

    /// Records the switch to `choice` that the portal makes by itself (`why`: the audit
    /// entry's reason). Throws `PortalError.conflict` while a switch runs.
    func chooseAutomatically(_ choice: EmbedderChoice, because why: String) async throws {
        _ = try await record(choice, apiKey: nil, automatic: true, event: Self.automaticEvent(from: active().embedder.identity, to: choice.identity, because: why))
    }

    private static func automaticEvent(from active: EmbedderIdentity, to next: EmbedderIdentity, because why: String) -> SecurityEvent {
        SecurityEvent(kind: .embeddingsChanged, userID: nil, username: nil, organizationID: nil, detail: "switching search from \(active) to \(next): \(why)")
    }

    private func record(_ choice: EmbedderChoice, apiKey: String?, automatic: Bool?, event: SecurityEvent) async throws -> (embedder: any Embedder, generation: Int) {
        let generation = active().generation
        // Checked and recorded in one write: of two requests at once, one is refused.
        try await environment.write { [table, events] txn in
            let stored = try txn.get(table, "state")
            guard stored?.next == nil, stored?.retiring == nil else { throw PortalError.conflict("search is already switching to another embeddings provider") }
            try txn.put(table, "state", State(active: stored?.active ?? .hashing, generation: generation, next: choice, automatic: automatic))
            try events.record(event, in: txn)
        }
        let next = generation + 1
        try await secrets.update(Self.keyName(next), to: apiKey ?? "", field: "apiKey", maximumLength: 4096)
        let embedder = choice.embedder(apiKey: try secrets.get(Self.keyName(next)), sentenceModel: sentenceModel)
        progress.withLock { $0 = (embedder.identity, 0, 0, nil) }
        return (embedder, next)
    }

    /// Makes `choice` the active provider at once, in a new generation, when nothing is
    /// embedded with the active one yet (a new portal): nothing to re-embed, so no search
    /// waits. The old generation is left to retire (`SearchReindexer` drops it).
    func switchAtOnce(to choice: EmbedderChoice, because why: String) async throws {
        let (active, generation) = active()
        let embedder = choice.embedder(apiKey: nil, sentenceModel: sentenceModel)
        let event = Self.automaticEvent(from: active.identity, to: embedder.identity, because: why)
        try await environment.write { [table, events] txn in
            let stored = try txn.get(table, "state")
            guard stored?.next == nil, stored?.retiring == nil, (stored?.generation ?? 0) == generation else {
                throw PortalError.conflict("search is already switching to another embeddings provider")
            }
            try txn.put(table, "state", State(active: choice, generation: generation + 1, next: nil, retiring: generation, automatic: true))
            try events.record(event, in: txn)
        }
        current.withLock { $0 = (embedder, generation + 1) }
    }

    /// What a switch the portal stopped in the middle of still has to do: the embedder and
    /// generation to switch to (or, when only the clean-up is left, the active ones).
    func pending() throws -> (embedder: any Embedder, generation: Int)? {
        guard let state = try state() else { return nil }
        if let next = state.next {
            let embedder = next.embedder(apiKey: try secrets.get(Self.keyName(state.generation + 1)), sentenceModel: sentenceModel)
            progress.withLock { $0 = (embedder.identity, 0, 0, nil) }
            return (embedder, state.generation + 1)
        }
        return state.retiring == nil ? nil : active()
    }

    func report(done: Int, total: Int, problem: String?) {
        progress.withLock {
            $0.done = done
            $0.total = total
            $0.problem = problem
        }
    }

    /// A failure of the switch as a whole (it is tried again).
    func report(problem: String) {
        progress.withLock { $0.problem = problem }
    }

    /// Makes the next generation the active one; the old one is to be dropped (`retired`).
    func complete(_ embedder: any Embedder, generation: Int) async throws {
        guard var state = try state(), let next = state.next else { return }
        state = State(active: next, generation: generation, next: nil, retiring: generation - 1, automatic: state.automatic)
        let committed = state
        try await environment.write { [table] txn in try txn.put(table, "state", committed) }
        current.withLock { $0 = (embedder, generation) }
        progress.withLock { $0.next = nil }
    }

    /// The old generation is gone: its key too.
    func retired(_ generation: Int) async throws {
        guard var state = try state(), state.retiring == generation else { return }
        state.retiring = nil
        let committed = state
        try await environment.write { [table] txn in try txn.put(table, "state", committed) }
        try await secrets.delete(Self.keyName(generation))
    }
}
