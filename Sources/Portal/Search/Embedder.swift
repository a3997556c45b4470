import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Which model produced a collection's vectors. Recorded with each collection: vectors from
/// different embedders are never mixed in one index.
public struct EmbedderIdentity: Codable, Sendable, Hashable, CustomStringConvertible {
    public var provider: String
    public var model: String
    public var dimension: Int

    public var description: String { "\(provider)/\(model) (\(dimension) dimensions)" }
}

/// Turns text into vectors for semantic search.
public protocol Embedder: Sendable {
    var identity: EmbedderIdentity { get }
    /// One unit-length vector per text, in order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// The built-in embedder: no network, no model file. Feature hashing (signed, two hashes per
/// feature) of word unigrams and bigrams, of character trigrams, and of operations concepts
/// (a small synonym table: "db" and "postgres" are both a database, "server" and "vm" a
/// host) into `dimension` floats, with sublinear term weights, normalized to unit length.
///
/// Guarantees: deterministic across processes and machines (FNV-1a, no seeded hashing);
/// the same text always gives the same vector; text with no letters or digits gives a fixed
/// non-zero vector (so cosine is always defined). It captures shared words, their
/// inflections, common operations synonyms and local word order; a model embedder
/// (OpenAI-compatible) adds real language understanding.
public struct HashingEmbedder: Embedder {
    public let identity: EmbedderIdentity
    let synonyms: Bool

    public init(dimension: Int = 1536) {
        identity = EmbedderIdentity(provider: "builtin", model: "hashing-v1", dimension: dimension)
        synonyms = true
    }

    /// hashing-v1 without its synonym table, under its own name: for measuring what the table
    /// adds (`portal bench embedder-quality`), never for search.
    public static func withoutSynonyms() -> HashingEmbedder { HashingEmbedder(synonymsOff: ()) }

    private init(synonymsOff: Void) {
        identity = EmbedderIdentity(provider: "builtin", model: "hashing-v1-without-synonyms", dimension: 1536)
        synonyms = false
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map(vector)
    }

    static let stopWords: Set<String> = [
        "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "is", "are", "was", "were",
        "be", "been", "it", "its", "this", "that", "these", "those", "i", "me", "my", "we", "our", "you", "your", "please",
        "can", "could", "would", "should", "do", "does", "did", "how", "what", "which", "there", "here", "some", "any", "all",
    ]

    /// Operations vocabulary: words (after stemming) that name the same concept.
    static let concepts: [String: String] = {
        let groups: [String: [String]] = [
            "database": ["db", "database", "databas", "postgres", "postgresql", "mysql", "oracle", "sql", "adb", "autonomou"],
            "host": ["server", "host", "machine", "box", "node", "vm", "instance", "computer"],
            "capacity": ["full", "space", "capacity", "usage", "free", "quota", "room"],
            "disk": ["disk", "drive", "volume", "filesystem", "partition", "mount", "storage"],
            "restart": ["restart", "reboot", "bounce", "reset"],
            "stop": ["stop", "shutdown", "halt", "kill", "terminat", "signal"],
            "start": ["start", "boot", "launch", "resume"],
            "network": ["network", "dns", "tcp", "port", "connectivity", "reachable", "ping", "resolve", "lookup"],
            "memory": ["memory", "ram", "swap"],
            "cpu": ["cpu", "load", "processor", "busy", "slow"],
            "process": ["process", "processe", "task", "daemon", "service", "unit", "systemd"],
            "delete": ["delete", "remove", "destroy", "drop", "erase"],
            "cost": ["cost", "spend", "billing", "budget", "price", "invoice"],
            "user": ["user", "account", "person", "people", "identity", "group"],
            "bucket": ["bucket", "object", "blob", "file"],
            "web": ["web", "http", "https", "url", "site", "website", "endpoint"],
        ]
        var map: [String: String] = [:]
        for (concept, words) in groups { for word in words { map[word] = concept } }
        return map
    }()

    /// Lower-cased words with common English inflections removed.
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in text.lowercased().unicodeScalars {
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words.filter { !stopWords.contains($0) }.map(stem)
    }

    /// A light suffix stripper: "restarting", "restarted", "restarts" → "restart".
    static func stem(_ word: String) -> String {
        guard word.count > 4 else { return word }
        for suffix in ["ing", "ed", "es", "s"] where word.hasSuffix(suffix) && word.count - suffix.count >= 3 {
            if suffix == "s" && word.hasSuffix("ss") { continue }
            return String(word.dropLast(suffix.count))
        }
        return word
    }

    func vector(_ text: String) -> [Float] {
        let dimension = identity.dimension
        var counts: [String: Int] = [:]
        let words = Self.words(text)
        for word in words {
            counts["w:" + word, default: 0] += 1
            if synonyms, let concept = Self.concepts[word] { counts["s:" + concept, default: 0] += 1 }
            let padded = Array(" \(word) ".unicodeScalars)
            if padded.count >= 3 {
                for start in 0...(padded.count - 3) { counts["c:" + String(String.UnicodeScalarView(padded[start..<start + 3])), default: 0] += 1 }
            }
        }
        for (first, second) in zip(words, words.dropFirst()) { counts["b:\(first) \(second)", default: 0] += 1 }
        var vector = [Float](repeating: 0, count: dimension)
        for (feature, count) in counts {
            // Words weigh most, then concepts; character trigrams catch inflections and typos.
            let kind: Float = switch feature.first {
            case "w": 1.0
            case "s": 1.0
            case "b": 0.7
            default: 0.25
            }
            let weight = kind * (1 + log(Float(count)))
            let hash = Self.fnv1a(feature)
            for probe in 0..<2 {
                let bits = probe == 0 ? hash : hash >> 32 | hash << 32
                let slot = Int(bits % UInt64(dimension))
                vector[slot] += (bits >> 63) == 0 ? weight : -weight
            }
        }
        var norm: Float = 0
        for value in vector { norm += value * value }
        guard norm > 0 else {
            vector[0] = 1
            return vector
        }
        let scale = 1 / norm.squareRoot()
        return vector.map { $0 * scale }
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        // Final avalanche, so nearby inputs spread over every bit.
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}

/// A short extract of a found text for a result list: up to 28 words around the first word
/// the query shares with it, those words marked `[[like this]]` (the client highlights them
/// and renders everything as text, never as HTML).
public enum SearchSnippet {
    public static func make(_ text: String, query: String) -> String {
        let wanted = Set(HashingEmbedder.words(query))
        let tokens = text.split(whereSeparator: \.isWhitespace)
        func matches(_ token: Substring) -> Bool { HashingEmbedder.words(String(token)).contains(where: wanted.contains) }
        let first = tokens.firstIndex(where: matches) ?? 0
        let start = max(0, first - 8), end = min(tokens.count, start + 28)
        var piece = tokens[start..<end].map { matches($0) ? "[[\($0)]]" : String($0) }.joined(separator: " ")
        if start > 0 { piece = "… " + piece }
        if end < tokens.count { piece += " …" }
        return piece
    }
}
