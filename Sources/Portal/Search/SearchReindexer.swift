import FoundationEssentials
import SentenceEncoder
import Vector

/// Switches search to another embeddings provider: every conversation turn is embedded again
/// in the background (the `search.reindex` job) into the next generation's collection while
/// search goes on with the active one; then the next generation becomes active at once, the
/// tools and the incidents are embedded again and the old collections are dropped. Progress is in
/// `SearchEmbeddings.currentStatus()`. At start-up, `adopt` makes the portal's default
/// embedder the active one where no administrator chose another.
///
/// Guarantees: one switch at a time; a switch interrupted by a stop or a crash goes on after
/// the next start (its job is durable; `adopt` also re-files one for data written before
/// jobs existed); a provider that fails is retried with backoff (from `retryDelay`), with the
/// problem shown, never given up silently; turns written or deleted during the switch are
/// accounted for (brought up to date before and after the switch).
public final class SearchReindexer: Sendable {
    let embeddings: SearchEmbeddings
    let chat: ChatSessions
    let tools: ToolSearch
    let incidents: IncidentSearch
    let vectors: VectorCollections
    let jobs: Jobs
    let retryDelay: Duration
    static let jobKind = "search.reindex"

    init(embeddings: SearchEmbeddings, chat: ChatSessions, tools: ToolSearch, incidents: IncidentSearch, vectors: VectorCollections, jobs: Jobs,
         retryDelay: Duration = .seconds(30)) {
        self.embeddings = embeddings
        self.chat = chat
        self.tools = tools
        self.incidents = incidents
        self.vectors = vectors
        self.jobs = jobs
        self.retryDelay = retryDelay
        jobs.register(JobKind(Self.jobKind, concurrency: 1, maxAttempts: 1_000_000, backoff: retryDelay, maxBackoff: max(retryDelay, .seconds(300))) { [self] _ in
            guard let (embedder, generation) = try embeddings.pending() else { return }
            do {
                try await run(embedder, generation: generation)
            } catch is CancellationError {
                throw CancellationError()  // the portal stops: the job goes on at the next start
            } catch {
                embeddings.report(problem: "\(error)")
                throw error
            }
        })
    }

    /// Starts switching search to `choice`. Throws `PortalError.invalid` for a bad choice,
    /// `.conflict` while another switch runs or when search already uses it.
    public func choose(_ choice: EmbedderChoice, apiKey: String?, by actor: Principal) async throws {
        _ = try await embeddings.choose(choice, apiKey: apiKey, by: actor)
        try await jobs.enqueue(JobRequest(kind: Self.jobKind, idempotencyKey: Self.jobKind))
    }

    /// At start-up: where the portal chooses the embedder (no administrator chose one, or
    /// the portal chose the active one itself), makes `defaults` the active one — at once on
    /// a portal with nothing embedded yet, else by the background re-index — and resumes a
    /// switch left unfinished. Returns a warning to log when the sentence model's files are
    /// missing and search falls back to the hashing embedder; throws the model's
    /// `EncoderError` (naming the file and how to restore it) when search needs the model
    /// and may not fall back.
    @discardableResult
    public func adopt(_ defaults: DefaultEmbedder) async throws -> String? {
        var warning: String?
        let state = try embeddings.state()
        let model = embeddings.sentenceModel
        let active = embeddings.active().embedder.identity
        if let next = state?.next {
            if active == SentenceEmbedder.identity, let problem = model.problem() { throw problem }
            if next.identity == SentenceEmbedder.identity, let problem = model.problem() {
                guard defaults.fallsBackToHashing else { throw problem }
                warning = "the switch to \(SentenceEmbedder.model) waits for its files (search uses \(active) meanwhile): \(problem)"
            }
        } else if state?.retiring == nil {
            // An administrator's choice stands; the portal's own follows the default.
            var target = state.flatMap { $0.automatic == true ? nil : $0.active } ?? defaults.choice
            if target.identity == SentenceEmbedder.identity, let problem = model.problem() {
                guard defaults.fallsBackToHashing else { throw problem }
                warning = "search uses the hashing embedder until the sentence model's files are back: \(problem)"
                target = .hashing
            }
            if target.identity != active {
                let why = warning == nil ? "the portal's default" : "the sentence model's files are missing"
                // Without the model its vectors cannot be searched: nothing is lost by not waiting.
                if try warning != nil || nothingEmbedded() {
                    try await embeddings.switchAtOnce(to: target, because: why)
                } else {
                    try await embeddings.chooseAutomatically(target, because: why)
                }
            }
        } else if active == SentenceEmbedder.identity, let problem = model.problem() {
            throw problem
        }
        try await resume()
        return warning
    }

    /// Whether the active generation holds no vectors of conversations or incidents (the
    /// tools' are recomputed on every switch anyway).
    private func nothingEmbedded() throws -> Bool {
        let generation = embeddings.active().generation
        for base in [ChatSessions.baseCollection, IncidentSearch.baseCollection] {
            let name = SearchEmbeddings.collection(base, generation: generation)
            if try vectors.descriptor(name) != nil, try vectors.index(name).count > 0 { return false }
        }
        return true
    }

    /// Files the job for a switch left unfinished, if there is none (idempotent).
    private func resume() async throws {
        if try embeddings.pending() != nil { try await jobs.enqueue(JobRequest(kind: Self.jobKind, idempotencyKey: Self.jobKind)) }
    }

    /// Returns when no switch is waiting or running.
    public func waitUntilIdle() async throws {
        _ = try await jobs.waitUntilFinal(idempotencyKey: Self.jobKind)
    }

    private func run(_ embedder: any Embedder, generation: Int) async throws {
        let retiring = generation - 1
        if embeddings.active().generation != generation {
            try await chat.rebuild(generation: generation, embedder: embedder, retryDelay: retryDelay) { [embeddings] done, total, problem in
                embeddings.report(done: done, total: total, problem: problem)
            }
            try await embeddings.complete(embedder, generation: generation)
        }
        // Turns written into the old collection until the switch committed (into a collection
        // that a switch made at once has not created yet).
        _ = try await chat.prepare()
        try await chat.catchUp(SearchEmbeddings.collection(ChatSessions.baseCollection, generation: generation), embedder: embedder)
        _ = try await tools.refresh()
        try await incidents.refresh()
        for base in [ChatSessions.baseCollection, ToolSearch.baseCollection, IncidentSearch.baseCollection] {
            try await vectors.drop(SearchEmbeddings.collection(base, generation: retiring))
        }
        try await embeddings.retired(retiring)
    }
}
