import FoundationEssentials
import Synchronization

/// Switches search to another embeddings provider: every conversation turn is embedded again
/// in the background into the next generation's collection while search goes on with the
/// active one; then the next generation becomes active at once, the tools are embedded again
/// and the old collections are dropped. Progress is in `SearchEmbeddings.currentStatus()`.
///
/// Guarantees: one switch at a time; a switch interrupted by a stop starts over at the next
/// start (`resume`); a provider that fails is retried (every `retryDelay`), with the problem
/// shown, never given up silently; turns written or deleted during the switch are accounted
/// for (brought up to date before and after the switch).
public final class SearchReindexer: Sendable {
    let embeddings: SearchEmbeddings
    let chat: ChatSessions
    let tools: ToolSearch
    let vectors: VectorCollections
    let retryDelay: Duration
    private let job = Mutex<Task<Void, Never>?>(nil)

    init(embeddings: SearchEmbeddings, chat: ChatSessions, tools: ToolSearch, vectors: VectorCollections, retryDelay: Duration = .seconds(30)) {
        self.embeddings = embeddings
        self.chat = chat
        self.tools = tools
        self.vectors = vectors
        self.retryDelay = retryDelay
    }

    /// Starts switching search to `choice`. Throws `AccessError.invalid` for a bad choice,
    /// `.conflict` while another switch runs or when search already uses it.
    public func choose(_ choice: EmbedderChoice, apiKey: String?, by actor: Principal) async throws {
        let (embedder, generation) = try await embeddings.choose(choice, apiKey: apiKey, by: actor)
        start(embedder, generation: generation)
    }

    /// Goes on with a switch the portal was stopped in the middle of (or its clean-up).
    public func resume() throws {
        if let (embedder, generation) = try embeddings.pending() { start(embedder, generation: generation) }
    }

    /// Stops the switch under way (at shutdown); it starts over at the next `resume`.
    public func stop() {
        job.withLock { $0 }?.cancel()
    }

    /// Returns when no switch is running.
    public func waitUntilIdle() async {
        await job.withLock { $0 }?.value
    }

    private func start(_ embedder: any Embedder, generation: Int) {
        job.withLock { $0 }?.cancel()  // a stopped job that has not ended yet
        let task = Task { [self] in
            while !Task.isCancelled {
                do {
                    try await run(embedder, generation: generation)
                    return
                } catch {
                    embeddings.report(problem: "\(error)")
                    try? await Task.sleep(for: retryDelay)
                }
            }
        }
        job.withLock { $0 = task }
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
        try await vectors.drop(SearchEmbeddings.collection(ChatSessions.baseCollection, generation: retiring))
        try await vectors.drop(SearchEmbeddings.collection(ToolSearch.baseCollection, generation: retiring))
        try await embeddings.retired(retiring)
    }
}
