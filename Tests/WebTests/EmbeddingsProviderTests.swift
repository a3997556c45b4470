import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Portal
import Synchronization
import Testing

/// The OpenAI-compatible embeddings provider against a server this test runs on 127.0.0.1:
/// batching in order, retries after 429 and 5xx, and clear errors for answers that break
/// the protocol.
@Suite struct EmbeddingsProviderTests {
    /// What the fake server does with each request, in order; then it answers normally.
    final class Script: Sendable {
        let steps: Mutex<[Int]>
        let requests = Mutex<[(authorization: String?, inputs: [String])]>([])
        let dimension: Int
        init(_ steps: [Int], dimension: Int = 8) {
            self.steps = Mutex(steps)
            self.dimension = dimension
        }
    }

    /// `gate`: requests wait until it finishes.
    static func server(_ script: Script, gate: AsyncStream<Void>? = nil) -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.post("/v1/embeddings") { request, context -> Response in
            if let gate { for await _ in gate {} }
            struct Body: Decodable { let model: String; let input: [String] }
            let body = try await request.decode(as: Body.self, context: context)
            script.requests.withLock { $0.append((request.headers[.authorization], body.input)) }
            let status = script.steps.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            guard status == 200 else {
                return Response(status: .init(code: status), headers: [.retryAfter: "0", .contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"slow down"}}"#)))
            }
            // A deterministic vector per text: its length and first letter, spread over the dimensions.
            let data = body.input.enumerated().reversed().map { index, text -> String in
                let values = (0..<script.dimension).map { String(Float(text.count + $0) + Float(text.unicodeScalars.first?.value ?? 0) / 100) }
                return #"{"object":"embedding","index":\#(index),"embedding":[\#(values.joined(separator: ","))]}"#
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"object":"list","data":[\#(data.joined(separator: ","))]}"#)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func batchesRetriesAndKeepsOrder() async throws {
        let script = Script([429, 503])
        try await Self.server(script).test(.live) { client in
            let port = try #require(client.port)
            let embedder = OpenAICompatibleEmbedder(baseURL: "http://127.0.0.1:\(port)/v1", model: "test-embed", dimension: 8, apiKey: "sk-test-key",
                                                    batchSize: 3, initialBackoff: .milliseconds(1))
            let texts = (1...7).map { "text number \($0)" }
            let vectors = try await embedder.embed(texts)
            #expect(vectors.count == 7)
            for (text, vector) in zip(texts, vectors) {
                #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "unit length")
                let raw = (0..<8).map { Float(text.count + $0) + Float(text.unicodeScalars.first!.value) / 100 }
                let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(zip(vector, raw).allSatisfy { abs($0 - $1 / norm) < 1e-5 }, "vectors come back in the texts' order")
            }
            let requests = script.requests.withLock { $0 }
            // Two refused attempts of the first batch, then three batches of at most 3.
            #expect(requests.map(\.inputs.count) == [3, 3, 3, 3, 1])
            #expect(requests.allSatisfy { $0.authorization == "Bearer sk-test-key" })
        }
    }

    @Test func protocolViolationsAndOutagesAreClearErrors() async throws {
        let script = Script([400], dimension: 4)
        try await Self.server(script).test(.live) { client in
            let port = try #require(client.port)
            let wrongDimension = OpenAICompatibleEmbedder(baseURL: "http://127.0.0.1:\(port)/v1", model: "m", dimension: 8, apiKey: nil, initialBackoff: .milliseconds(1))
            do {
                _ = try await wrongDimension.embed(["a"])
                Issue.record("a 400 was accepted")
            } catch let error as EmbeddingError {
                #expect(error.description == "the embeddings server answered 400: slow down")
            }
            await #expect(throws: EmbeddingError.provider("the embeddings server returned 4 dimensions, not the configured 8")) {
                try await wrongDimension.embed(["a"])
            }
        }
        let unreachable = OpenAICompatibleEmbedder(baseURL: "http://127.0.0.1:1/v1", model: "m", dimension: 8, apiKey: "sk-secret-value",
                                                   maxAttempts: 2, initialBackoff: .milliseconds(1), timeout: .seconds(1))
        do {
            _ = try await unreachable.embed(["a"])
            Issue.record("an unreachable server gave vectors")
        } catch {
            #expect("\(error)".contains("after 2 attempts"))
            #expect(!"\(error)".contains("sk-secret-value"))
        }
    }
}
