import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A client of one external MCP server over the streamable HTTP transport (revision
/// 2025-11-25, accepting the server's choice of 2025-06-18 or 2025-03-26), or of a local one
/// over stdio (`MCPStdioExchange`, one process per exchange).
///
/// Guarantees: one session per client, initialized on first use and again when the server
/// forgets it (404 on a request carrying its id, which the server did not process, so the
/// request is sent once more); an answer is read as JSON or as an event stream, and the
/// notifications a stream carries before the answer are handed to `onNotification`; every
/// exchange is bounded by a timeout and a byte limit; the credential goes only to the
/// server's URL and never into an error (`MCPClientError` carries the URL without its query).
final class MCPClient: Sendable {
    /// Where the server is and how the portal proves who it is there: a header of every HTTP
    /// request, or a variable of a local server's environment.
    struct Connection: Sendable, Equatable {
        enum Endpoint: Sendable, Equatable {
            case http(url: String)
            /// A local program (an allowed executable) spoken to over stdio, one process per exchange.
            case command(executable: String, arguments: [String])
        }

        var endpoint: Endpoint
        var credentialName: String?
        var credential: String?

        var url: String { if case let .http(url) = endpoint { url } else { "" } }
    }

    /// What `initialize` learned.
    struct Session: Sendable, Equatable {
        let id: String?
        let protocolVersion: String
        let serverName: String
        let serverVersion: String
        let listsChanges: Bool
    }

    static let protocolVersion = "2025-11-25"
    static let supportedVersions: Set<String> = ["2025-11-25", "2025-06-18", "2025-03-26"]

    /// The registered server's name (its pack's).
    let serverName: String
    let connection: Connection
    let http: OutboundHTTP
    /// Where local servers' programs are found and what they may inherit (`tools.*`).
    let runtime: ToolRuntimeOptions
    let clientVersion: String
    private let session = Mutex<Session?>(nil)
    private let nextID = Atomic<Int>(1)

    init(serverName: String, connection: Connection, http: OutboundHTTP, runtime: ToolRuntimeOptions, clientVersion: String) {
        self.serverName = serverName
        self.connection = connection
        self.http = http
        self.runtime = runtime
        self.clientVersion = clientVersion
    }

    /// The session, initialized when there is none yet.
    func currentSession(timeout: Duration = .seconds(15)) async throws(MCPClientError) -> Session {
        if let session = session.withLock({ $0 }) { return session }
        return try await initialize(timeout: timeout)
    }

    /// Starts a new session: `initialize`, then `notifications/initialized`.
    @discardableResult
    func initialize(timeout: Duration = .seconds(15)) async throws(MCPClientError) -> Session {
        let params: JSONAny = .object([
            "protocolVersion": .string(Self.protocolVersion),
            "capabilities": .object([:]),
            "clientInfo": .object(["name": .string("portal"), "version": .string(clientVersion)]),
        ])
        let exchange = try await post(method: "initialize", params: params, session: nil, timeout: timeout, maxBytes: 1 << 20, onNotification: { _ in })
        let result = exchange.result
        guard let version = result["protocolVersion"]?.string, Self.supportedVersions.contains(version) else {
            throw .protocolError("the server speaks MCP revision \(result["protocolVersion"]?.string ?? "?"), which the portal does not (\(Self.supportedVersions.sorted().joined(separator: ", ")))")
        }
        let info = result["serverInfo"]
        let started = Session(id: exchange.sessionID, protocolVersion: version, serverName: info?["name"]?.string ?? "",
                              serverVersion: info?["version"]?.string ?? "", listsChanges: result["capabilities"]?["tools"]?["listChanged"]?.bool ?? false)
        _ = try await post(method: "notifications/initialized", params: nil, session: started, timeout: timeout, maxBytes: 64 << 10, onNotification: { _ in })
        session.withLock { $0 = started }
        return started
    }

    /// Every tool the server offers (all pages, at most 50), and what it said at `initialize`.
    func listTools(timeout: Duration = .seconds(30)) async throws(MCPClientError) -> (tools: [RemoteTool], server: String) {
        if case .command = connection.endpoint {
            return try await overStdio(timeout: timeout, maxBytes: 8 << 20, onNotification: { _ in }) { (exchange, initialized) throws(MCPClientError) in
                (try Self.collectPages { cursor throws(MCPClientError) in try exchange.request("tools/list", cursor) }, Self.serverName(initialized))
            }
        }
        let tools = try await Self.collectPages { cursor async throws(MCPClientError) in
            try await self.request("tools/list", params: cursor, timeout: timeout, maxBytes: 8 << 20, onNotification: { _ in })
        }
        let session = try await currentSession()
        return (tools, [session.serverName, session.serverVersion].filter { !$0.isEmpty }.joined(separator: " "))
    }

    private static func serverName(_ initialized: JSONAny) -> String {
        [initialized["serverInfo"]?["name"]?.string, initialized["serverInfo"]?["version"]?.string].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The tools of every page `fetch` (given the cursor's params) answers.
    private static func collectPages(_ fetch: (JSONAny?) async throws(MCPClientError) -> JSONAny) async throws(MCPClientError) -> [RemoteTool] {
        var tools: [RemoteTool] = [], params: JSONAny?
        for _ in 0..<50 {
            let page = try page(try await fetch(params))
            tools += page.tools
            guard let next = page.next else { return tools }
            params = next
        }
        throw .protocolError("tools/list went on for more than 50 pages")
    }

    /// The same for the stdio exchange, which runs on a thread of its own.
    private static func collectPages(_ fetch: (JSONAny?) throws(MCPClientError) -> JSONAny) throws(MCPClientError) -> [RemoteTool] {
        var tools: [RemoteTool] = [], params: JSONAny?
        for _ in 0..<50 {
            let page = try page(try fetch(params))
            tools += page.tools
            guard let next = page.next else { return tools }
            params = next
        }
        throw .protocolError("tools/list went on for more than 50 pages")
    }

    /// One `tools/list` answer: its tools, and the params that ask for the next page.
    private static func page(_ result: JSONAny) throws(MCPClientError) -> (tools: [RemoteTool], next: JSONAny?) {
        guard let listed = result["tools"]?.array else { throw .protocolError("tools/list answered without a list of tools") }
        var tools: [RemoteTool] = []
        for item in listed {
            guard let tool = RemoteTool(item) else { throw .protocolError("tools/list answered a tool without a name or an input schema") }
            tools.append(tool)
        }
        guard let cursor = result["nextCursor"]?.string, !cursor.isEmpty else { return (tools, nil) }
        return (tools, .object(["cursor": .string(cursor)]))
    }

    /// Calls a tool; its result (`content`, `structuredContent`, `isError`) as the server sent it.
    func callTool(_ name: String, arguments: JSONAny, timeout: Duration, maxBytes: Int,
                  onNotification: @escaping @Sendable (String) -> Void) async throws(MCPClientError) -> JSONAny {
        let params: JSONAny = .object(["name": .string(name), "arguments": arguments])
        if case .command = connection.endpoint {
            return try await overStdio(timeout: timeout, maxBytes: maxBytes, onNotification: onNotification) { (exchange, _) throws(MCPClientError) in
                try exchange.request("tools/call", params)
            }
        }
        return try await request("tools/call", params: params, timeout: timeout, maxBytes: maxBytes, onNotification: onNotification)
    }

    /// One exchange with a local server: its process started in the server's directory with
    /// the tools' environment (and the credential in its variable), then `body`.
    private func overStdio<T: Sendable>(timeout: Duration, maxBytes: Int, onNotification: @escaping @Sendable (String) -> Void,
                                        _ body: @escaping @Sendable (inout MCPStdioExchange, JSONAny) throws(MCPClientError) -> T) async throws(MCPClientError) -> T {
        guard case let .command(name, arguments) = connection.endpoint else { throw .protocolError("not a local server") }
        let executable: String
        do { executable = try runtime.resolveExecutable(name) } catch { throw .unreachable(error.description) }
        var environment = runtime.childEnvironment()
        if let variable = connection.credentialName, let credential = connection.credential { environment[variable] = credential }
        // One directory per server, kept: what the program caches there (npm's, uv's) saves the
        // next exchange a download.
        let directory = runtime.workRoot + "/mcp-server-" + serverName
        guard mkdir(runtime.workRoot, 0o700) == 0 || errno == EEXIST, mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw .unreachable("cannot create the server's working directory: \(String(cString: strerror(errno)))")
        }
        environment["HOME"] = directory
        let exchange = MCPStdioExchange(executable: executable, arguments: arguments, environment: environment, directory: directory,
                                        timeout: timeout, maxBytes: maxBytes, onNotification: onNotification)
        return try await MCPStdioExchange.run(exchange, clientVersion: clientVersion, body)
    }

    /// Holds the server's own event stream (`GET`) open and hands each notification's method
    /// to `onNotification`; returns when the server ends the stream, when `maxDuration` has
    /// passed, or when the server forgot the session (404: the next use starts a new one).
    /// Throws `MCPClientError.noStream` when the server offers no such stream (405, or a
    /// local server).
    func listen(maxDuration: Duration, onNotification: @escaping @Sendable (String) -> Void) async throws(MCPClientError) {
        guard case .http = connection.endpoint else { throw .noStream }
        let session = try await currentSession()
        var client = http
        client.timeout = maxDuration
        client.maximumBodyBytes = 64 << 20
        let decoder = StreamReader(expecting: nil, onNotification: onNotification)
        let response: OutboundHTTP.Response
        do {
            response = try await client.stream(url: connection.url, method: "GET", headers: headers(session: session, accept: "text/event-stream"),
                                               body: nil, idleTimeout: maxDuration, onHeaders: { _ in decoder.opened = true }) { bytes in try decoder.feed(bytes) }
        } catch let error as OutboundError {
            // The stream's time is up; a connection that never opened is a failure.
            if case .timedOut = error, decoder.opened { return }
            throw .unreachable(error.description)
        } catch {
            throw .unreachable("\(error)")
        }
        if response.status == 405 { throw .noStream }
        if response.status == 404, session.id != nil {
            forget(session)
            return
        }
        guard (200..<300).contains(response.status) else { throw status(response) }
    }

    /// One request in the current session, which is started again once if the server forgot it.
    private func request(_ method: String, params: JSONAny?, timeout: Duration, maxBytes: Int,
                         onNotification: @escaping @Sendable (String) -> Void) async throws(MCPClientError) -> JSONAny {
        let session = try await currentSession(timeout: timeout)
        do {
            return try await post(method: method, params: params, session: session, timeout: timeout, maxBytes: maxBytes, onNotification: onNotification).result
        } catch .sessionExpired {
            forget(session)
            let renewed = try await initialize(timeout: timeout)
            return try await post(method: method, params: params, session: renewed, timeout: timeout, maxBytes: maxBytes, onNotification: onNotification).result
        }
    }

    private func forget(_ expired: Session) {
        session.withLock { if $0 == expired { $0 = nil } }
    }

    private func headers(session: Session?, accept: String) -> [(String, String)] {
        var headers = [("Accept", accept)]
        if let session {
            headers.append(("MCP-Protocol-Version", session.protocolVersion))
            if let id = session.id { headers.append(("Mcp-Session-Id", id)) }
        }
        if let name = connection.credentialName, let value = connection.credential { headers.append((name, value)) }
        return headers
    }

    /// Sends one message; for a request, reads its answer (`nil` params: none sent).
    private func post(method: String, params: JSONAny?, session: Session?, timeout: Duration, maxBytes: Int,
                      onNotification: @escaping @Sendable (String) -> Void) async throws(MCPClientError) -> (result: JSONAny, sessionID: String?) {
        let isNotification = method.hasPrefix("notifications/")
        let id = isNotification ? nil : nextID.add(1, ordering: .relaxed).oldValue
        var message: [String: JSONAny] = ["jsonrpc": .string("2.0"), "method": .string(method)]
        if let id { message["id"] = .number(Double(id)) }
        if let params { message["params"] = params }
        var client = http
        client.timeout = timeout
        client.maximumBodyBytes = maxBytes
        let reader = StreamReader(expecting: id, onNotification: onNotification)
        let response: OutboundHTTP.Response
        do {
            response = try await client.stream(url: connection.url, method: "POST",
                                               headers: headers(session: session, accept: "application/json, text/event-stream") + [("Content-Type", "application/json")],
                                               body: JSONAny.object(message).canonicalJSON, idleTimeout: timeout,
                                               onHeaders: { reader.sessionID = $0["mcp-session-id"] }) { bytes in try reader.feed(bytes) }
        } catch is StreamReader.Answered {
            return (try reader.answer(), reader.sessionID)
        } catch let error as StreamReader.Malformed {
            throw .protocolError(error.reason)
        } catch let error as OutboundError {
            switch error {
            case .timedOut: throw .timedOut(seconds: Int(timeout.components.seconds))
            case .tooLarge: throw .tooLarge(bytes: maxBytes)
            default: throw .unreachable(error.description)
            }
        } catch {
            throw .unreachable("\(error)")
        }
        if response.status == 404, session?.id != nil { throw .sessionExpired }
        guard (200..<300).contains(response.status) else { throw status(response) }
        guard id != nil else { return (.null, nil) }
        return (try reader.answer(), reader.sessionID)
    }

    private func status(_ response: OutboundHTTP.Response) -> MCPClientError {
        let detail = JSONAny(json: response.body).flatMap { $0["error"]?["message"]?.string ?? $0["detail"]?.string }
            ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        if response.status == 401 || response.status == 403 { return .refused(status: response.status) }
        return .status(response.status, detail)
    }
}

/// Reads the body of one exchange: a JSON answer, or an event stream of messages in which
/// the answer to `expecting` ends the exchange (by throwing `Answered`) and notifications
/// are handed on. Fed from one task at a time.
private final class StreamReader: Sendable {
    struct Answered: Error {}
    struct Malformed: Error { let reason: String }

    let expecting: Int?
    let onNotification: @Sendable (String) -> Void
    private let state = Mutex<(buffer: [UInt8], isStream: Bool?, answer: JSONAny?)>(([], nil, nil))
    private let head = Mutex<(sessionID: String?, opened: Bool)>((nil, false))
    /// The `Mcp-Session-Id` the answer's headers carried.
    var sessionID: String? {
        get { head.withLock { $0.sessionID } }
        set { head.withLock { $0.sessionID = newValue } }
    }
    /// Whether the answer's headers arrived.
    var opened: Bool {
        get { head.withLock { $0.opened } }
        set { head.withLock { $0.opened = newValue } }
    }

    init(expecting: Int?, onNotification: @escaping @Sendable (String) -> Void) {
        self.expecting = expecting
        self.onNotification = onNotification
    }

    func feed(_ bytes: [UInt8]) throws {
        let messages: [JSONAny] = try state.withLock { state in
            state.buffer += bytes
            if state.isStream == nil, let first = state.buffer.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) {
                state.isStream = first != UInt8(ascii: "{") && first != UInt8(ascii: "[")
            }
            guard state.isStream == true else { return [] }
            var messages: [JSONAny] = []
            // An event without data (a resumable stream's priming event, carrying only an id) says nothing.
            for data in ServerSentEvents.take(&state.buffer) where !data.allSatisfy(\.isWhitespace) {
                guard let message = JSONAny(json: Array(data.utf8)) else { throw Malformed(reason: "the server sent an event that is not JSON") }
                messages.append(message)
            }
            return messages
        }
        for message in messages where try handle(message) { throw Answered() }
    }

    /// Whether `message` is the awaited answer.
    private func handle(_ message: JSONAny) throws -> Bool {
        if let method = message["method"]?.string {
            if message["id"] == nil { onNotification(method) }
            return false
        }
        guard let expecting, message["id"]?.integer == expecting else { return false }
        state.withLock { $0.answer = message }
        return true
    }

    /// The awaited answer's result, or why there is none.
    func answer() throws(MCPClientError) -> JSONAny {
        let (buffer, isStream, answer) = state.withLock { ($0.buffer, $0.isStream, $0.answer) }
        var message = answer
        if message == nil, isStream != true {
            guard let parsed = JSONAny(json: buffer) else { throw .protocolError("the server's answer is not JSON") }
            message = parsed
        }
        guard let message else { throw .protocolError("the server ended its event stream without an answer") }
        if let error = message["error"] {
            throw .rpc(code: error["code"]?.integer ?? 0, message: error["message"]?.string ?? "no message")
        }
        guard let result = message["result"] else { throw .protocolError("the server's answer has neither a result nor an error") }
        return result
    }
}

/// Why an exchange with an external MCP server failed, in words for a run's error.
enum MCPClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreachable(String)
    case refused(status: Int)
    case status(Int, String)
    case timedOut(seconds: Int)
    case tooLarge(bytes: Int)
    case protocolError(String)
    case rpc(code: Int, message: String)
    /// The server forgot the session (404); a new one is started.
    case sessionExpired
    /// The server keeps no event stream of its own (405 on GET).
    case noStream

    var description: String {
        switch self {
        case let .unreachable(reason): "unreachable: \(reason)"
        case let .refused(status): "refused the portal's credential (HTTP \(status)); a system administrator checks it on the MCP servers page"
        case let .status(status, detail): "answered HTTP \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        case let .timedOut(seconds): "did not answer within \(seconds) s"
        case let .tooLarge(bytes): "answered more than \(bytes) bytes"
        case let .protocolError(reason): "broke the protocol: \(reason)"
        case let .rpc(code, message): "answered error \(code): \(message)"
        case .sessionExpired: "forgot the session"
        case .noStream: "offers no event stream of its own"
        }
    }
}
