import FoundationEssentials
import Portal

/// A JSON-RPC 2.0 request id: a string or an integer (never null), echoed back as received.
enum JSONRPCID: Codable, Sendable, Hashable {
    case number(Int64)
    case string(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) { self = .number(number) }
        else if let string = try? container.decode(String.self) { self = .string(string) }
        else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "an id is a string or an integer") }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .number(number): try container.encode(number)
        case let .string(string): try container.encode(string)
        }
    }
}

/// One JSON-RPC message a client sends: a request (with an `id`), a notification (without),
/// or an answer to a request of ours (`result` or `error`; the portal sends none, so these are
/// acknowledged and dropped).
struct JSONRPCMessage: Decodable, Sendable {
    let id: JSONRPCID?
    let method: String?
    let params: [String: JSONAny]?
    let isResponse: Bool

    private enum CodingKeys: String, CodingKey { case jsonrpc, id, method, params, result, error }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decodeIfPresent(String.self, forKey: .jsonrpc) == "2.0" else {
            throw JSONRPCError(.invalidRequest, "\"jsonrpc\" must be \"2.0\"")
        }
        if container.contains(.id) {
            guard !(try container.decodeNil(forKey: .id)), let id = try? container.decode(JSONRPCID.self, forKey: .id) else {
                throw JSONRPCError(.invalidRequest, "an id is a string or an integer, never null")
            }
            self.id = id
        } else {
            id = nil
        }
        if container.contains(.method) {
            guard let method = try? container.decode(String.self, forKey: .method) else { throw JSONRPCError(.invalidRequest, "method is a string") }
            self.method = method
        } else {
            method = nil
        }
        isResponse = method == nil && (container.contains(.result) || container.contains(.error))
        guard method != nil || isResponse else { throw JSONRPCError(.invalidRequest, "a request names its method") }
        if container.contains(.params), !(try container.decodeNil(forKey: .params)) {
            guard case let .object(params) = try container.decode(JSONAny.self, forKey: .params) else {
                throw JSONRPCError(.invalidParams, "params must be an object")
            }
            self.params = params
        } else {
            params = nil
        }
    }

    var isNotification: Bool { id == nil && !isResponse }
}

/// A JSON-RPC error object; thrown by method handlers and sent as the answer's `error`.
struct JSONRPCError: Error, Encodable, Sendable, Equatable {
    /// The codes of JSON-RPC 2.0 that MCP uses.
    enum Code: Int, Sendable {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case internalError = -32603
    }

    let code: Int
    let message: String
    let data: JSONAny?

    init(_ code: Code, _ message: String, data: JSONAny? = nil) {
        self.code = code.rawValue
        self.message = message
        self.data = data
    }
}

/// The answer to one request: its `result`, or its `error`. The id is `null` only when the
/// request could not be read far enough to know it.
struct JSONRPCResponse: Encodable, Sendable {
    let id: JSONRPCID?
    let outcome: Result<JSONAny, JSONRPCError>

    private enum CodingKeys: String, CodingKey { case jsonrpc, id, result, error }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("2.0", forKey: .jsonrpc)
        if let id { try container.encode(id, forKey: .id) } else { try container.encodeNil(forKey: .id) }
        switch outcome {
        case let .success(result): try container.encode(result, forKey: .result)
        case let .failure(error): try container.encode(error, forKey: .error)
        }
    }
}

/// A notification the portal sends (progress, a changed tool list).
struct JSONRPCNotification: Encodable, Sendable {
    let method: String
    let params: JSONAny?

    private enum CodingKeys: String, CodingKey { case jsonrpc, method, params }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("2.0", forKey: .jsonrpc)
        try container.encode(method, forKey: .method)
        try container.encodeIfPresent(params, forKey: .params)
    }
}
