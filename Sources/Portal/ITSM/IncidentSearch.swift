public import FoundationEssentials
public import KV
import Vector

/// Finds incidents by meaning: each incident's title, service, category and description are
/// embedded into the `incidents` collection of the active embeddings generation, partitioned
/// by organization.
///
/// Guarantees: every change of that text files an `incident.embed` job in the incident's own
/// transaction, so an incident becomes searchable moments after it is written, also when the
/// portal stops in between (the job is durable); an incident is embedded again only when its
/// text or the embedder changed; a vector lands only in the generation that was active when
/// its write commits (a switch in between makes the job run again); after a switch of
/// embeddings provider `refresh` embeds every incident again before the old collection is
/// dropped; a search sees only its organization's incidents.
public final class IncidentSearch: Sendable {
    let environment: Environment
    let incidents: Incidents
    let vectors: VectorCollections
    let embeddings: SearchEmbeddings
    /// (organization, incident) → digest of the embedded text and the embedder.
    let digests: Table<CompositeKey<UUID, TimeOrderedID>, StringKey>
    static let baseCollection = "incidents"
    static let jobKind = "incident.embed"
    /// The graph search's width (ef).
    let searchWidth = 64

    struct Payload: Codable, Sendable {
        let organizationID: UUID
        let incidentID: TimeOrderedID
    }

    private struct GenerationChanged: Error {}

    init(environment: Environment, incidents: Incidents, vectors: VectorCollections, embeddings: SearchEmbeddings, jobs: Jobs) throws {
        self.environment = environment
        self.incidents = incidents
        self.vectors = vectors
        self.embeddings = embeddings
        digests = try environment.table("incident_embeddings", key: CompositeKey<UUID, TimeOrderedID>.self, value: StringKey.self)
        jobs.register(JobKind(Self.jobKind, concurrency: 2, maxAttempts: 10, backoff: .seconds(5)) { [self] context in
            let payload = try context.payload(as: Payload.self)
            _ = try await index([(payload.organizationID, payload.incidentID)])
        })
    }

    /// What is embedded of an incident.
    static func text(_ incident: Incident) -> String {
        [incident.title + ".", incident.service.map { "Service \($0)." } ?? "", "Category \(incident.category).", String(incident.description.prefix(4000))]
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Whether a change touched what is embedded.
    static func textChanged(from previous: Incident?, to incident: Incident) -> Bool {
        previous.map { text($0) != text(incident) } ?? true
    }

    /// The job that embeds `incident` after this change (one per change, so a job already
    /// running with the old text never stands for the new).
    static func job(for incident: Incident) throws -> JobRequest {
        JobRequest(kind: jobKind, payload: try JSONAny(encoding: Payload(organizationID: incident.organizationID, incidentID: incident.id)),
                   idempotencyKey: "incident-embed:\(incident.id):\(incident.timelineLength)")
    }

    /// Embeds those of `keys` whose text or embedder changed into the active generation;
    /// returns how many.
    func index(_ keys: [(UUID, TimeOrderedID)]) async throws -> Int {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await indexInActiveGeneration(keys)
            } catch is GenerationChanged where attempt < 3 {
                continue
            }
        }
    }

    private func indexInActiveGeneration(_ keys: [(UUID, TimeOrderedID)]) async throws -> Int {
        let (embedder, generation) = embeddings.active()
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        try await vectors.createIfMissing(collection, dimension: embedder.identity.dimension, metric: .cosine, embedder: embedder.identity)
        let stale = try environment.read { txn in
            try keys.compactMap { key -> (key: (UUID, TimeOrderedID), text: String, digest: String)? in
                guard let incident = try txn.get(incidents.table, key) else { return nil }
                let text = Self.text(incident)
                let digest = Crypto.sha256(Array((embedder.identity.description + "\n" + text).utf8)).hexString
                return try txn.get(digests, key) == digest ? nil : (key, text, digest)
            }
        }
        guard !stale.isEmpty else { return 0 }
        let embedded = try await embedder.embed(stale.map(\.text))
        try await environment.write { [self] txn in
            guard try embeddings.committedGeneration(txn) == generation else { throw GenerationChanged() }
            for (entry, vector) in zip(stale, embedded) {
                try vectors.upsert(collection, owner: entry.key.1.description, partition: entry.key.0.uuidString, vector: vector, in: txn)
                try txn.put(digests, entry.key, entry.digest)
            }
        }
        return stale.count
    }

    /// Embeds every incident whose text or embedder changed, `batch` at a time (after a switch
    /// of embeddings provider: all of them); returns how many.
    @discardableResult
    public func refresh(batch: Int = 128) async throws -> Int {
        let keys = try environment.read { txn in
            var keys: [(UUID, TimeOrderedID)] = []
            try txn.forEach(incidents.table) { (key, _) throws(KVError) in keys.append((key.0, key.1)); return true }
            return keys
        }
        var done = 0
        for start in stride(from: 0, to: keys.count, by: batch) {
            done += try await index(Array(keys[start..<min(start + batch, keys.count)]))
        }
        return done
    }

    /// An incident found by meaning, and how close (cosine similarity).
    public struct Match: Codable, Sendable {
        public let incident: Incident
        public let score: Float
    }

    /// The organization's incidents closest in meaning to `query`, best first.
    public func search(_ query: String, in organizationID: UUID, limit: Int = 10) async throws -> [Match] {
        try Incidents.checkText(query.trimmed, "q", 1...2000)
        guard (1...50).contains(limit) else { throw PortalError.invalid("limit is 1 to 50") }
        return try await matches(for: query, in: organizationID, limit: limit, excluding: nil)
    }

    /// The organization's other incidents closest in meaning to this one, best first.
    public func similar(to id: TimeOrderedID, in organizationID: UUID, limit: Int = 5) async throws -> [Match] {
        guard let incident = try incidents.incident(id, in: organizationID) else { throw PortalError.notFound("incident") }
        return try await matches(for: Self.text(incident), in: organizationID, limit: limit, excluding: id)
    }

    private func matches(for text: String, in organizationID: UUID, limit: Int, excluding: TimeOrderedID?) async throws -> [Match] {
        do {
            return try await matchesInActiveGeneration(for: text, in: organizationID, limit: limit, excluding: excluding)
        } catch VectorError.unknownCollection {
            // A switch of embeddings provider dropped the collection under this search: again, on the new one.
            return try await matchesInActiveGeneration(for: text, in: organizationID, limit: limit, excluding: excluding)
        }
    }

    private func matchesInActiveGeneration(for text: String, in organizationID: UUID, limit: Int, excluding: TimeOrderedID?) async throws -> [Match] {
        let (embedder, generation) = embeddings.active()
        let collection = SearchEmbeddings.collection(Self.baseCollection, generation: generation)
        guard (try? vectors.index(collection)) != nil else { return [] }
        let vector = try await embedder.embed([text])[0]
        let hits = try vectors.search(collection, vector: vector, k: limit + 1, ef: max(searchWidth, limit + 1), partitions: [organizationID.uuidString])
        return try environment.read { txn in
            try hits.compactMap { hit -> Match? in
                guard let id = TimeOrderedID(hit.owner), id != excluding, let incident = try txn.get(incidents.table, (organizationID, id)) else { return nil }
                return Match(incident: incident, score: 1 - hit.distance)
            }.prefix(limit).map { $0 }
        }
    }
}
