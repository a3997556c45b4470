public import FoundationEssentials
import KV
import Synchronization
import Vector

/// Finds tools by meaning: every installed tool's title, description and category are
/// embedded in the `tools` collection of the active embeddings generation, partitioned by
/// pack, so a search sees only the packs the caller's organization enabled.
///
/// Guarantees: `refresh` brings the index in line with the installed packs (new and changed
/// tools embedded, removed ones deleted) in one transaction; a tool's vector is recomputed
/// only when its text or the embedder changes.
public final class ToolSearch: Sendable {
    let environment: Environment
    let catalog: ToolCatalog
    let vectors: VectorCollections
    let embeddings: SearchEmbeddings
    /// tool name → digest of the embedded text and embedder.
    let digests: Table<StringKey, StringKey>
    static let baseCollection = "tools"
    /// The catalog revision and embeddings generation the index was last brought up to date with.
    private let indexedRevision = Mutex<(revision: Int, generation: Int)?>(nil)

    init(environment: Environment, catalog: ToolCatalog, vectors: VectorCollections, embeddings: SearchEmbeddings) throws {
        self.environment = environment
        self.catalog = catalog
        self.vectors = vectors
        self.embeddings = embeddings
        digests = try environment.table("tool_embeddings", key: StringKey.self, value: StringKey.self)
    }

    static func text(_ tool: Tool) -> String {
        "\(tool.title). \(tool.description) \(tool.category). \(tool.name.replacing(".", with: " ").replacing("-", with: " "))"
    }

    /// Embeds what changed since the last refresh; returns how many tools were (re)embedded.
    @discardableResult
    public func refresh() async throws -> Int {
        let (embedder, generation) = embeddings.active()
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        try await vectors.createIfMissing(collection, dimension: embedder.identity.dimension, metric: .cosine, embedder: embedder.identity)
        let packs = try catalog.packs()
        let stored = try environment.read { txn in
            var result: [String: String] = [:]
            try txn.forEach(digests) { (name, digest) throws(KVError) in
                result[name] = digest
                return true
            }
            return result
        }
        var changed: [(tool: Tool, pack: String, digest: String)] = []
        var present: Set<String> = []
        for pack in packs {
            for tool in pack.tools {
                present.insert(tool.name)
                let digest = Crypto.sha256(Array((embedder.identity.description + "\n" + Self.text(tool)).utf8)).hexString
                if stored[tool.name] != digest { changed.append((tool, pack.name, digest)) }
            }
        }
        let removed = Set(stored.keys).subtracting(present)
        guard !changed.isEmpty || !removed.isEmpty else { return 0 }
        let embedded = try await embedder.embed(changed.map { Self.text($0.tool) })
        let updates = changed
        try await environment.write { [self] txn in
            for (entry, vector) in zip(updates, embedded) {
                try vectors.upsert(collection, owner: entry.tool.name, partition: entry.pack, vector: vector, in: txn)
                try txn.put(digests, entry.tool.name, entry.digest)
            }
            for name in removed {
                _ = try vectors.remove(collection, owner: name, in: txn)
                _ = try txn.delete(digests, name)
            }
        }
        return changed.count
    }

    /// A tool and how close it is to the query (cosine similarity).
    public struct Suggestion: Sendable {
        public let tool: Tool
        public let score: Float
    }

    /// The organization's tools closest in meaning to `query`, best first, at least
    /// `minimumScore` similar.
    /// The first search, and the first after a pack is installed, brings the index up to date,
    /// so a pack installed a moment ago is searchable at once; other searches do no such work.
    public func suggest(_ query: String, in organizationID: UUID, limit: Int = 5, minimumScore: Float = 0.12) async throws -> [Suggestion] {
        do {
            return try await suggestFromActiveGeneration(query, in: organizationID, limit: limit, minimumScore: minimumScore)
        } catch VectorError.unknownCollection {
            // A switch of embeddings provider dropped the collection under this search: again, on the new one.
            return try await suggestFromActiveGeneration(query, in: organizationID, limit: limit, minimumScore: minimumScore)
        }
    }

    private func suggestFromActiveGeneration(_ query: String, in organizationID: UUID, limit: Int, minimumScore: Float) async throws -> [Suggestion] {
        let revision = catalog.revision
        let (embedder, generation) = embeddings.active()
        if indexedRevision.withLock({ $0.map { $0 != (revision, generation) } ?? true }) {
            try await refresh()
            indexedRevision.withLock { $0 = (revision, generation) }
        }
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        let packs = try catalog.enabledPacks(in: organizationID)
        guard !packs.isEmpty, (try? vectors.index(collection)) != nil else { return [] }
        let vector = try await embedder.embed([query])[0]
        return try vectors.search(collection, vector: vector, k: limit, partitions: Array(packs)).compactMap { hit in
            let score = 1 - hit.distance
            guard score >= minimumScore, let tool = try catalog.tool(named: hit.owner, in: organizationID) else { return nil }
            return Suggestion(tool: tool, score: score)
        }
    }
}
