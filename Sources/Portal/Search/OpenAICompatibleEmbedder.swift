import FoundationEssentials

/// Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, OCI Generative
/// AI's compatible endpoint, Ollama, vLLM, llama.cpp's server).
///
/// Guarantees: texts are sent in batches of at most `batchSize`, in order; a rate-limited
/// (429), failing (5xx) or unreachable server is retried with exponential backoff (honouring
/// `Retry-After` up to 10 s) at most `maxAttempts` times per batch; an answer with the wrong
/// count, wrong dimension or a non-finite number is an error, never a stored vector; vectors
/// are normalized to unit length. The API key is sent only in the Authorization header and
/// never appears in an error.
public struct OpenAICompatibleEmbedder: Embedder {
    public let identity: EmbedderIdentity
    let endpoint: String
    let apiKey: String?
    let batchSize: Int
    let maxAttempts: Int
    /// The backoff's first wait; doubled after each failed attempt.
    let initialBackoff: Duration
    var http = OutboundHTTP()

    /// `baseURL` is the API root, such as `https://api.openai.com/v1`.
    /// `timeout` bounds each request (a batch), connection attempts included.
    public init(baseURL: String, model: String, dimension: Int = 1536, apiKey: String?, batchSize: Int = 64, maxAttempts: Int = 4,
                initialBackoff: Duration = .milliseconds(250), timeout: Duration = .seconds(30)) {
        identity = EmbedderIdentity(provider: "openai-compatible", model: model, dimension: dimension)
        endpoint = (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/embeddings"
        self.apiKey = apiKey
        self.batchSize = max(1, batchSize)
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        http.timeout = timeout
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let batch = Array(texts[start..<min(start + batchSize, texts.count)])
            vectors += try await embedBatch(batch)
            start += batch.count
        }
        return vectors
    }

    private struct Request: Encodable {
        let model: String
        let input: [String]
        let encoding_format = "float"
    }

    private struct Answer: Decodable {
        struct Item: Decodable {
            let index: Int
            let embedding: [Float]
        }
        let data: [Item]
    }

    private func embedBatch(_ batch: [String]) async throws -> [[Float]] {
        let body = Array(try JSONEncoder().encode(Request(model: identity.model, input: batch)))
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if let apiKey, !apiKey.isEmpty { headers.append(("Authorization", "Bearer \(apiKey)")) }
        var wait = initialBackoff
        var lastProblem = ""
        for attempt in 1...maxAttempts {
            do {
                let response = try await http.send(url: endpoint, method: "POST", headers: headers, body: body)
                switch response.status {
                case 200:
                    return try Self.vectors(from: response.body, count: batch.count, dimension: identity.dimension)
                case 429, 500...599:
                    lastProblem = "the embeddings server answered \(response.status)"
                    if let seconds = response.retryAfterSeconds { wait = .seconds(min(seconds, 10)) }
                default:
                    throw EmbeddingError.provider("the embeddings server answered \(response.status)\(Self.reason(response.body))")
                }
            } catch let error as OutboundError {
                lastProblem = error.description
            }
            if attempt < maxAttempts {
                try await Task.sleep(for: wait)  // backoff before the next attempt
                wait = wait * 2
            }
        }
        throw EmbeddingError.provider("\(lastProblem) (after \(maxAttempts) attempts)")
    }

    static func vectors(from body: [UInt8], count: Int, dimension: Int) throws -> [[Float]] {
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw EmbeddingError.provider("the embeddings server's answer is not an embeddings list")
        }
        guard answer.data.count == count, Set(answer.data.map(\.index)) == Set(0..<count) else {
            throw EmbeddingError.provider("the embeddings server returned \(answer.data.count) vectors for \(count) texts")
        }
        return try answer.data.sorted { $0.index < $1.index }.map { item in
            guard item.embedding.count == dimension else {
                throw EmbeddingError.provider("the embeddings server returned \(item.embedding.count) dimensions, not the configured \(dimension)")
            }
            guard item.embedding.allSatisfy(\.isFinite) else { throw EmbeddingError.provider("the embeddings server returned a non-finite number") }
            let norm = item.embedding.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { throw EmbeddingError.provider("the embeddings server returned a zero vector") }
            return item.embedding.map { $0 / norm }
        }
    }

    static func reason(_ body: [UInt8]) -> String {
        struct Failure: Decodable {
            struct Detail: Decodable { let message: String? }
            let error: Detail?
        }
        guard let message = (try? JSONDecoder().decode(Failure.self, from: Data(body)))?.error?.message else { return "" }
        return ": " + String(message.prefix(200))
    }
}

/// An embedding provider that could not be used.
public enum EmbeddingError: Error, Equatable, Sendable, CustomStringConvertible {
    case provider(String)

    public var description: String {
        switch self {
        case let .provider(reason): reason
        }
    }
}
