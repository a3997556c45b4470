import FoundationEssentials
import HTTPTypes
import Hummingbird
import KV
import NIOCore
import Portal
import ServiceLifecycle

/// `/mcp`: the Model Context Protocol endpoint (streamable HTTP), for AI agents with an API
/// key. `POST` takes one JSON-RPC message and answers it as JSON, or as a short event stream
/// when a tool call asked for progress; `GET` is a stream that says when the caller's tool
/// list changed. No session state is kept: a session id only records the agreed protocol
/// revision, so a restart of the portal breaks no client.
extension PortalRoutes {
    func addMCPRoutes(core: PortalCore, options: WebOptions) {
        let server = MCPServer(core: core, version: options.version, publicURL: options.publicURL, limiter: options.rateLimiting ? core.rateLimiter : nil)
        let gate = MCPGate(publicURL: options.publicURL)
        let anyJSON: JSONAny = .object(["type": .string("object")])

        post("/mcp", .authenticated, RouteDoc("mcpMessage", "One MCP message (JSON-RPC 2.0): initialize, ping, tools/list, tools/call, or a notification.",
                                              body: anyJSON,
                                              responses: [ResponseSpec(200, "The answer (JSON, or an event stream for a call that asked for progress).", schema: anyJSON),
                                                          ResponseSpec(202, "A notification or response, accepted.", contentType: nil)],
                                              webOnly: true, oauthResource: true)) { request, context in
            try gate.check(request, streaming: false)
            var buffer = try await request.body.collect(upTo: context.maxUploadSize)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            let message: JSONRPCMessage
            do {
                guard bytes.first(where: { !$0.isJSONWhitespace }) != UInt8(ascii: "[") else {
                    throw JSONRPCError(.invalidRequest, "Send one message per request (JSON-RPC batches are not part of MCP).")
                }
                message = try JSONDecoder().decode(JSONRPCMessage.self, from: Data(bytes))
            } catch let error as JSONRPCError {
                return try MCPGate.rejection(error)
            } catch {
                return try MCPGate.rejection(JSONRPCError(.parseError, "The body is not a JSON-RPC message: \(String(describing: error).prefix(200))"))
            }
            guard !message.isNotification, !message.isResponse else { return Response(status: .accepted) }
            let principal = context.principal!, requestID = context.requestID
            guard message.method == "tools/call", let progressToken = MCPGate.progressToken(message) else {
                let answer = await server.answer(message, .init(principal: principal, requestID: requestID, progress: nil))
                var response = try MCPGate.json(answer)
                if message.method == "initialize", case let .success(.object(result))? = answer?.outcome, case let .string(agreed)? = result["protocolVersion"] {
                    response.headers[.mcpSessionID] = MCPGate.sessionID(version: agreed)
                }
                return response
            }
            // A tool call that asked for progress: an event stream with its notifications, then
            // the answer. Comments keep an idle wait alive through proxies (and a write to a
            // client that went away ends it); a graceful shutdown ends it at once.
            let body = ResponseBody { writer in
                let (chunks, sink) = AsyncStream.makeStream(of: String.self)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let answer = await server.answer(message, .init(principal: principal, requestID: requestID, progress: { progress, text in
                            sink.yield(MCPGate.event(JSONRPCNotification(method: "notifications/progress", params: .object([
                                "progressToken": progressToken, "progress": .number(progress), "total": .number(1), "message": .string(text),
                            ]))))
                        }))
                        if let answer { sink.yield(MCPGate.event(answer)) }
                        sink.finish()
                    }
                    group.addTask { try await Self.keepAlive(sink, with: ": keep-alive\n\n") }
                    try await withGracefulShutdownHandler {
                        for await chunk in chunks { try await writer.write(ByteBuffer(string: chunk)) }
                    } onGracefulShutdown: {
                        sink.finish()
                    }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            }
            return Self.eventStreamResponse(body)
        }

        get("/mcp", .authenticated, RouteDoc("mcpStream", "MCP server-to-client stream: notifications/tools/list_changed when the tools you may run change.",
                                             responses: [ResponseSpec(200, "An event stream that stays open.", contentType: "text/event-stream")],
                                             webOnly: true, oauthResource: true)) { request, context in
            try gate.check(request, streaming: true)
            let opened = context.principal!
            let changes = core.outbox.changes()
            let body = ResponseBody { writer in
                // What the client has seen, taken before it hears that it is connected: a change
                // after that is told.
                var seen = try core.outbox.consumerCursors().newest
                var listed = try server.visibleTools(for: opened)
                try await writer.write(ByteBuffer(string: ": connected\n\n"))
                enum Item: Sendable { case change, keepAlive }
                let (items, sink) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(1))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await _ in changes { sink.yield(.change) }
                        sink.finish()
                    }
                    group.addTask { try await Self.keepAlive(sink, with: .keepAlive) }
                    try await withGracefulShutdownHandler {
                        for await item in items {
                            // Only events that can change what the caller may run are looked into
                            // (a busy portal commits far more often than its catalog changes).
                            let fresh = try core.outbox.entries(after: seen, limit: 1_000)
                            seen = fresh.last?.sequence ?? seen
                            let relevant = fresh.count == 1_000 || fresh.contains { MCPServer.mayChangeTools($0.event.kind) }
                            if relevant || item == .keepAlive {
                                // The stream lasts as long as its caller may use the portal.
                                guard let current = try await core.current(opened), current.organizationID == opened.organizationID else { break }
                                let now = try server.visibleTools(for: current)
                                if now != listed {
                                    listed = now
                                    try await writer.write(ByteBuffer(string: MCPGate.event(JSONRPCNotification(method: "notifications/tools/list_changed", params: nil))))
                                }
                            }
                            if item == .keepAlive { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
                        }
                    } onGracefulShutdown: {
                        sink.finish()
                    }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            }
            return Self.eventStreamResponse(body)
        }
    }
}

/// The transport's checks before a message is read: where the request comes from (`Origin`),
/// what the client accepts, and the protocol revision it speaks.
struct MCPGate: Sendable {
    /// `server.public_url`'s origin; loopback origins are always accepted.
    let publicOrigin: String?

    init(publicURL: String?) {
        publicOrigin = publicURL.flatMap(SameOrigin.origin(of:))
    }

    /// Throws 403 for a foreign `Origin` (a web page must not drive the portal's tools through
    /// a person's browser), 406 when the client does not accept the answer's types, 400 for a
    /// protocol revision the portal does not speak, 404 for a session id it never gave.
    func check(_ request: Request, streaming: Bool) throws {
        if let origin = request.headers[.origin], !isAllowed(origin: origin) {
            throw ProblemDetails(.forbidden, detail: "Requests from \(origin.prefix(100)) may not use this MCP server (only this portal's address and loopback).")
        }
        let accepted = request.headers[values: .accept].joined(separator: ",").lowercased()
        let wanted = streaming ? ["text/event-stream"] : ["application/json", "text/event-stream"]
        guard accepted.contains("*/*") || wanted.allSatisfy(accepted.contains) else {
            throw ProblemDetails(.notAcceptable, detail: "Accept \(wanted.joined(separator: " and ")): MCP answers come as either.")
        }
        if let session = request.headers[.mcpSessionID], Self.version(inSession: session) == nil {
            throw ProblemDetails(.notFound, detail: "Unknown MCP session; initialize again.")
        }
        if let sent = request.headers[.mcpProtocolVersion], !MCPServer.supportedVersions.contains(sent) {
            throw ProblemDetails(.badRequest, detail: "Unsupported MCP-Protocol-Version \(sent.prefix(40)); this server speaks \(MCPServer.supportedVersions.joined(separator: ", ")).")
        }
    }

    func isAllowed(origin: String) -> Bool {
        guard let normalized = SameOrigin.origin(of: origin) else { return false }
        if normalized == publicOrigin { return true }
        return MetricsAccess.isLoopback(normalized)
    }

    /// A session id: the agreed revision and a random part. Nothing is stored; any id of this
    /// form is accepted, so none ends with a restart.
    static func sessionID(version: String) -> String {
        "mcp1.\(version).\(Crypto.randomBytes(16).hexString)"
    }

    static func version(inSession id: String) -> String? {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "mcp1", MCPServer.supportedVersions.contains(String(parts[1])), (16...64).contains(parts[2].count),
              parts[2].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        return String(parts[1])
    }

    /// The progress token of a call that asked for progress (`params._meta.progressToken`).
    static func progressToken(_ message: JSONRPCMessage) -> JSONAny? {
        guard case let .object(meta)? = message.params?["_meta"], let token = meta["progressToken"] else { return nil }
        switch token {
        case .string, .number: return token
        default: return nil
        }
    }

    /// One server-sent event holding a message. Events carry no ids: streams are not resumed
    /// (a client that lost one asks again).
    static func event(_ message: some Encodable) -> String {
        let json = (try? JSONEncoder().encode(message)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return "data: \(json)\n\n"
    }

    static func json(_ answer: JSONRPCResponse?) throws -> Response {
        guard let answer else { return Response(status: .accepted) }
        return try PortalRoutes.jsonResponse(.ok, answer)
    }

    /// A message that could not be read: 400 with the JSON-RPC error (its id unknown).
    static func rejection(_ error: JSONRPCError) throws -> Response {
        try PortalRoutes.jsonResponse(.badRequest, JSONRPCResponse(id: nil, outcome: .failure(error)))
    }
}

private extension UInt8 {
    var isJSONWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
