import ArgumentParser
import FoundationEssentials
import Portal
import SentenceEncoder
import Vector

/// `portal bench embedder-quality`: how well each built-in embedder finds the right document
/// for a query, on a retrieval set (`Benchmarks/search-quality.py` builds FOLDOC's and runs the
/// operations set). Every document and query is embedded, documents are ranked by exact cosine
/// (no index: this measures the embedder, not the search structure), and it reports hit@1,
/// hit@10 and the mean reciprocal rank of the first relevant document, one JSON line per
/// embedder (and for hashing-v1 without its synonym table, to show what the table adds).
struct EmbedderQualityBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embedder-quality", abstract: "Retrieval quality of the built-in embedders on a query set.")

    /// `{"documents": [{"id", "text"}], "queries": [{"text", "relevant": [id]}]}`
    struct RetrievalSet: Decodable {
        struct Document: Decodable { let id: String; let text: String }
        struct Query: Decodable { let text: String; let relevant: [String] }
        let documents: [Document]
        let queries: [Query]
    }

    @Option(help: "The retrieval set (JSON).") var set: String
    @Option(name: .customLong("model-dir"), help: "The sentence encoder's files (model.safetensors, vocab.txt).") var modelDirectory: String
    @Option(help: "Threads for the sentence encoder.") var threads: Int = 2

    func run() async throws {
        let retrieval = try JSONDecoder().decode(RetrievalSet.self, from: Data(contentsOf: URL(fileURLWithPath: set)))
        guard !retrieval.documents.isEmpty, !retrieval.queries.isEmpty else { throw ValidationError("the set has no documents or no queries") }
        let encoder = try SentenceEncoder(directory: modelDirectory)
        let hashing = HashingEmbedder(), withoutSynonyms = HashingEmbedder.withoutSynonyms()
        let embedders: [(String, ([String]) async throws -> [[Float]])] = [
            ("hashing-v1", { try await hashing.embed($0) }),
            ("hashing-v1 without synonyms", { try await withoutSynonyms.embed($0) }),
            ("all-MiniLM-L6-v2", { [threads] texts in
                var vectors: [[Float]] = []
                for start in stride(from: 0, to: texts.count, by: 256) { vectors += encoder.encode(Array(texts[start..<min(start + 256, texts.count)]), threads: threads) }
                return vectors
            }),
        ]
        for (name, embed) in embedders {
            let started = ContinuousClock.now
            let documents = try await embed(retrieval.documents.map(\.text))
            let queries = try await embed(retrieval.queries.map(\.text))
            let seconds = (ContinuousClock.now - started).milliseconds / 1000
            var hits1 = 0, hits10 = 0, reciprocal = 0.0
            for (query, vector) in zip(retrieval.queries, queries) {
                let relevant = Set(query.relevant)
                let scores = vector.withUnsafeBufferPointer { query in documents.map { document in document.withUnsafeBufferPointer { Distance.dot($0, query) } } }
                // The first relevant document's rank: how many documents score above it (a tie
                // goes to the earlier document).
                let relevantIndices = retrieval.documents.indices.filter { relevant.contains(retrieval.documents[$0].id) }
                guard let best = relevantIndices.max(by: { scores[$0] != scores[$1] ? scores[$0] < scores[$1] : $0 > $1 }) else { continue }
                let rank = scores.indices.reduce(0) { count, index in count + (scores[index] > scores[best] || (scores[index] == scores[best] && index < best) ? 1 : 0) }
                if rank == 0 { hits1 += 1 }
                if rank < 10 { hits10 += 1 }
                reciprocal += 1 / Double(rank + 1)
            }
            let count = Double(retrieval.queries.count)
            let report: [String: String] = [
                "embedder": name, "documents": "\(retrieval.documents.count)", "queries": "\(retrieval.queries.count)",
                "hit1": "\(Double(hits1) / count)", "hit10": "\(Double(hits10) / count)", "mrr": "\(reciprocal / count)", "seconds": "\(seconds)",
            ]
            print(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        }
    }
}
