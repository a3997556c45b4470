import FoundationEssentials
import Synchronization

/// One message of the conversation as a chat-completions model sees it.
public struct ModelMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant, tool }
    public var role: Role
    public var content: String?
    public var toolCalls: [ModelToolCall] = []
    /// For `tool` messages: the call this answers.
    public var toolCallID: String?
}

/// A tool call the model asked for; `arguments` is the JSON text the model wrote.
public struct ModelToolCall: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String
}

/// A tool the model may call: a function definition with a JSON Schema for its arguments.
public struct ModelToolDefinition: Sendable {
    public var name: String
    public var description: String
    public var parameters: JSONAny
}

/// What the model answered in one completion.
public struct ModelReply: Sendable, Equatable {
    public var content: String
    public var toolCalls: [ModelToolCall]
}

/// Why the model gave no usable answer. Messages name the server's reason and never carry
/// the API key.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server could not be reached, refused the request or reported an error.
    case server(String)
    /// The server went silent or took too long.
    case timedOut(String)
    /// The answer breaks the chat-completions protocol.
    case nonsense(String)

    public var description: String {
        switch self {
        case let .server(reason), let .timedOut(reason): reason
        case let .nonsense(reason): "the model server's answer makes no sense: \(reason)"
        }
    }
}

/// A client of any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, OCI Generative
/// AI's compatible endpoint, Ollama, vLLM, llama.cpp's server), streaming.
///
/// Guarantees: the reply's text is handed to `onText` as it streams; tool calls split over
/// many stream events are reassembled in order; a server that answers with one JSON document
/// instead of a stream is understood too; silence longer than `idleTimeout`, a total time
/// over `timeout`, more than `maximumBodyBytes`, an error status, an error event or
/// unparsable JSON end the call with a `ModelError`. The API key goes only into the
/// Authorization header.
public struct OpenAICompatibleChatModel: Sendable {
    let endpoint: String
    let model: String
    let apiKey: String?
    let idleTimeout: Duration
    var http = OutboundHTTP()
    /// At most this many tool calls are taken from one reply.
    static let maximumToolCalls = 8

    /// `baseURL` is the API root, such as `https://api.openai.com/v1`.
    public init(baseURL: String, model: String, apiKey: String?, idleTimeout: Duration = .seconds(60), timeout: Duration = .seconds(300)) {
        endpoint = (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/chat/completions"
        self.model = model
        self.apiKey = apiKey
        self.idleTimeout = idleTimeout
        http.timeout = timeout
        http.maximumBodyBytes = 4 << 20
    }

    public func complete(_ messages: [ModelMessage], tools: [ModelToolDefinition],
                         onText: @escaping @Sendable (String) async -> Void) async throws(ModelError) -> ModelReply {
        let body = Self.requestBody(model: model, messages: messages, tools: tools)
        var headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream")]
        if let apiKey, !apiKey.isEmpty { headers.append(("Authorization", "Bearer \(apiKey)")) }
        let parser = Mutex(StreamParser())
        let response: OutboundHTTP.Response
        do {
            response = try await http.stream(url: endpoint, method: "POST", headers: headers, body: body, idleTimeout: idleTimeout) { bytes in
                let text = try parser.withLock { parser throws(ModelError) in try parser.consume(bytes) }
                if !text.isEmpty { await onText(text) }
            }
        } catch let error as ModelError {
            throw error
        } catch let error as OutboundError {
            switch error {
            case let .timedOut(_, seconds): throw .timedOut("the model server did not answer within \(seconds) s")
            case .tooLarge: throw .nonsense(error.description)
            case .unreachable: throw .server(error.description)
            }
        } catch {
            throw .server("the model call ended: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw .server("the model server answered \(response.status)\(OpenAICompatibleEmbedder.reason(response.body))")
        }
        return try parser.withLock { parser throws(ModelError) in try parser.finish() }
    }

    static func requestBody(model: String, messages: [ModelMessage], tools: [ModelToolDefinition]) -> [UInt8] {
        let encodedMessages: [JSONAny] = messages.map { message in
            var object: [String: JSONAny] = ["role": .string(message.role.rawValue)]
            object["content"] = message.content.map(JSONAny.string) ?? .null
            if !message.toolCalls.isEmpty {
                object["tool_calls"] = .array(message.toolCalls.map { call in
                    .object(["id": .string(call.id), "type": .string("function"),
                             "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)])])
                })
            }
            if let toolCallID = message.toolCallID { object["tool_call_id"] = .string(toolCallID) }
            return .object(object)
        }
        var request: [String: JSONAny] = ["model": .string(model), "messages": .array(encodedMessages), "stream": .bool(true)]
        if !tools.isEmpty {
            request["tools"] = .array(tools.map { tool in
                .object(["type": .string("function"),
                         "function": .object(["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters])])
            })
        }
        return JSONAny.object(request).canonicalJSON
    }

    /// Reads server-sent events (`data: {...}` lines, `data: [DONE]`) as they come, or one
    /// JSON completion when the server does not stream.
    struct StreamParser {
        private var pending: [UInt8] = []
        /// The body so far while it may be one JSON completion (until an event shows a stream).
        private var everything: [UInt8] = []
        private var sawEvents = false
        private var done = false
        private var content = ""
        /// Tool calls by their stream index: id, name and the argument text so far.
        private var calls: [Int: ModelToolCall] = [:]

        /// Takes the next bytes; returns the reply text they add.
        mutating func consume(_ bytes: [UInt8]) throws(ModelError) -> String {
            if !sawEvents { everything += bytes }
            pending += bytes
            var added = ""
            for data in ServerSentEvents.take(&pending) { added += try handle(data: data) }
            return added
        }

        /// One event's data (comments, event names and ids are not data).
        private mutating func handle(data payload: String) throws(ModelError) -> String {
            sawEvents = true
            everything = []
            if payload == "[DONE]" {
                done = true
                return ""
            }
            guard !done else { throw .nonsense("an event after [DONE]") }
            guard let event = JSONAny(json: Array(payload.utf8)), event.object != nil else { throw .nonsense("an event that is not a JSON object") }
            if let error = event["error"] { throw .server("the model server reported an error: \(Self.message(of: error))") }
            guard let delta = event["choices"]?.array?.first?["delta"] else { return "" }  // usage-only and keep-alive events
            if let calls = delta["tool_calls"]?.array {
                for call in calls {
                    let index = call["index"]?.integer ?? self.calls.count
                    var current = self.calls[index] ?? ModelToolCall(id: "", name: "", arguments: "")
                    if let id = call["id"]?.string, !id.isEmpty { current.id = id }
                    if let name = call["function"]?["name"]?.string { current.name += name }
                    current.arguments += Self.argumentsText(call["function"]?["arguments"])
                    self.calls[index] = current
                }
            }
            let piece = delta["content"]?.string ?? ""
            content += piece
            return piece
        }

        /// The reply, once the body has ended.
        mutating func finish() throws(ModelError) -> ModelReply {
            if !sawEvents {
                // Not a stream: one chat completion document.
                guard let document = JSONAny(json: everything), document.object != nil else {
                    throw .nonsense(everything.isEmpty ? "an empty body" : "neither server-sent events nor a JSON completion")
                }
                if let error = document["error"] { throw .server("the model server reported an error: \(Self.message(of: error))") }
                guard let message = document["choices"]?.array?.first?["message"] else { throw .nonsense("no choices[0].message") }
                content = message["content"]?.string ?? ""
                for (index, call) in (message["tool_calls"]?.array ?? []).enumerated() {
                    calls[index] = ModelToolCall(id: call["id"]?.string ?? "", name: call["function"]?["name"]?.string ?? "",
                                                 arguments: Self.argumentsText(call["function"]?["arguments"]))
                }
            } else if !pending.isEmpty {
                // The body ended inside an event: take it as ended.
                pending += Array("\n\n".utf8)
                for data in ServerSentEvents.take(&pending) { _ = try handle(data: data) }
            }
            let toolCalls = calls.sorted { $0.key < $1.key }.prefix(OpenAICompatibleChatModel.maximumToolCalls).enumerated().map { position, entry in
                var call = entry.value
                // Ids pair results with calls across the conversation: a missing one must be unique.
                if call.id.isEmpty { call.id = "call_\(position)_\(UInt64.random(in: 0 ... .max))" }
                return call
            }
            guard toolCalls.allSatisfy({ !$0.name.isEmpty }) else { throw .nonsense("a tool call without a function name") }
            guard !content.isEmpty || !toolCalls.isEmpty else { throw .nonsense("an empty reply (no text and no tool call)") }
            return ModelReply(content: content, toolCalls: toolCalls)
        }

        /// Arguments come as JSON text; some servers send the object itself.
        private static func argumentsText(_ value: JSONAny?) -> String {
            switch value {
            case let .string(text)?: text
            case let .object(object)?: String(decoding: JSONAny.object(object).canonicalJSON, as: UTF8.self)
            default: ""
            }
        }

        private static func message(of error: JSONAny) -> String {
            String((error["message"]?.string ?? error.string ?? "no message").prefix(300))
        }
    }
}
