import FoundationEssentials

/// Switches search to another embeddings provider: every conversation turn is embedded again
/// in the background (the `search.reindex` job) into the next generation's collection while
/// search goes on with the active one; then the next generation becomes active at once, the
/// tools and the incidents are embedded again and the old collections are dropped. Progress is in
/// `SearchEmbeddings.currentStatus()`.
///
/// Guarantees: one switch at a time; a switch interrupted by a stop or a crash goes on after
/// the next start (its job is durable; `resume` also re-files one for data written before
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

    /// Files the job for a switch left unfinished, if there is none (idempotent).
    public func resume() async throws {
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
        // Turns written into the old collection until the switch committed.
        try await chat.catchUp(SearchEmbeddings.collection(ChatSessions.baseCollection, generation: generation), embedder: embedder)
        _ = try await tools.refresh()
        try await incidents.refresh()
        for base in [ChatSessions.baseCollection, ToolSearch.baseCollection, IncidentSearch.baseCollection] {
            try await vectors.drop(SearchEmbeddings.collection(base, generation: retiring))
        }
        try await embeddings.retired(retiring)
    }
}
