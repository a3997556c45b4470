public import FoundationEssentials
import KV
import Logging
import Synchronization

/// External MCP servers whose tools the portal imports as tool packs.
///
/// Guarantees: only system administrators register a server, review its tools and import
/// them; the credential header's value is sealed (`Secrets`, under `mcp-server/<name>`),
/// never returned and never in an error; a tool's risk is the administrator's choice, never
/// below `medium` unless its server marks it read-only; a pack is what was reviewed: a
/// later listing that differs (the server said its list changed, or a check found it) is
/// shown as differences and changes nothing in the catalog until an administrator imports
/// again; every call goes through the one run path (`ToolRuns`), here bounded by the tool's
/// timeout and output limit, and a server's failure is the run's failure with the reason.
/// Connection state and the last error are kept per server.
public final class MCPServers: Sendable {
    let environment: Environment
    let records: Table<StringKey, JSONValue<MCPServerRecord>>
    let secrets: Secrets
    let catalog: ToolCatalog
    let events: SecurityEvents
    let jobs: Jobs
    let http: OutboundHTTP
    /// Local servers' programs: the allow-list, path and environment of command tools.
    let runtime: ToolRuntimeOptions
    let clock: any WallClock
    let clientVersion: String
    let logger = Logger(label: "portal.mcp-client")
    /// One client (one session) per server, replaced when its connection settings change.
    private let clients = Mutex<[String: MCPClient]>([:])
    /// Each server's listener (`startListening`).
    private let listeners = Mutex<[String: Task<Void, Never>]>([:])
    /// Servers being re-listed, and whether another re-listing was asked for meanwhile.
    private let relisting = Mutex<[String: Bool]>([:])
    /// The ready-made templates (PagerDuty, Jira, Slack, GitHub), by name.
    public let templates: [String: MCPServerTemplate]

    init(environment: Environment, secrets: Secrets, catalog: ToolCatalog, events: SecurityEvents, jobs: Jobs, http: OutboundHTTP,
         runtime: ToolRuntimeOptions, clock: any WallClock, clientVersion: String) throws {
        self.runtime = runtime
        self.environment = environment
        self.secrets = secrets
        self.catalog = catalog
        self.events = events
        self.jobs = jobs
        self.http = http
        self.clock = clock
        self.clientVersion = clientVersion
        records = try environment.table("mcp_servers", key: StringKey.self, value: JSONValue<MCPServerRecord>.self)
        let decoded = try JSONDecoder().decode(MCPServerTemplate.File.self, from: Data(PackageResources.MCPTemplates_json))
        templates = Dictionary(uniqueKeysWithValues: decoded.templates.map { ($0.name, $0) })
    }

    static func secretName(_ server: String) -> String { "mcp-server/\(server)" }

    /// Whether a credential is stored for the server (its value is never shown).
    public func hasCredential(_ record: MCPServerRecord) throws -> Bool {
        try (record.credentialHeader ?? record.credentialVariable) != nil && secrets.get(Self.secretName(record.name)) != nil
    }

    // MARK: Administration

    /// Every registered server, by name.
    public func list() throws -> [MCPServerRecord] {
        try environment.read { txn in
            var result: [MCPServerRecord] = []
            try txn.forEach(records) { (_, record) throws(KVError) in
                result.append(record)
                return true
            }
            return result
        }
    }

    public func server(named name: String) throws -> MCPServerRecord? {
        try environment.read { txn in try txn.get(records, name) }
    }

    /// Registers a server (or changes where it is and its credential), then lists its tools
    /// for review. The listing's failure does not undo the registration: the server is kept
    /// with its state and error, to be checked again (`refresh`).
    public func register(_ registration: MCPServerRegistration, by actor: Principal) async throws -> MCPServerRecord {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators connect MCP servers") }
        let template = try registration.template.map { name in
            guard let template = templates[name] else { throw PortalError.invalid("there is no template '\(name)' (\(templates.keys.sorted().joined(separator: ", ")))") }
            return template
        }
        let name = registration.name
        guard (1...32).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw PortalError.invalid("name: 1–32 lowercase letters, digits or '-' (it becomes the pack's name)")
        }
        guard catalog.shipped[name] == nil else { throw PortalError.conflict("'\(name)' is a shipped pack; choose another name") }
        let command = registration.command
        let url = command == nil ? registration.url ?? template?.url ?? "" : ""
        if let command {
            guard registration.url == nil else { throw PortalError.invalid("give either url (a remote server) or command (a local one)") }
            guard runtime.allowedExecutables.contains(command.executable), !command.executable.contains("/") else {
                throw PortalError.invalid("command.executable: '\(command.executable)' is not an allowed executable (tools.allowed_executables: \(runtime.allowedExecutables.sorted().joined(separator: ", ")))")
            }
            guard ToolRuntimeOptions.organizationIdentity[command.executable] == nil else {
                throw PortalError.invalid("command.executable: '\(command.executable)' acts as each organization's own cloud identity and runs only as a command tool")
            }
            guard command.arguments.count <= 64, command.arguments.allSatisfy({ $0.utf8.count <= 4096 && !$0.contains("\0") }) else {
                throw PortalError.invalid("command.arguments: at most 64, each at most 4096 bytes")
            }
            guard registration.credentialHeader == nil else { throw PortalError.invalid("a local server gets its credential in an environment variable (credentialVariable)") }
        } else {
            guard Self.isEndpoint(url) else { throw PortalError.invalid("url: the server's MCP endpoint, an absolute http or https URL without a query") }
            guard registration.credentialVariable == nil else { throw PortalError.invalid("a remote server gets its credential in a header (credentialHeader)") }
        }
        if let variable = registration.credentialVariable {
            guard (1...64).contains(variable.count), variable.first.map({ !$0.isNumber }) == true,
                  variable.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }),
                  !["PATH", "HOME", "LANG", "LC_ALL", "TZ"].contains(variable), !variable.hasPrefix("LD_")
            else { throw PortalError.invalid("credentialVariable: an environment variable name (A-Z, 0-9, _), not PATH, HOME, LANG, TZ or LD_*") }
        }
        let header = command == nil ? registration.credentialHeader ?? template?.credentialHeader : nil
        if let header {
            guard (1...64).contains(header.count), header.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw PortalError.invalid("credentialHeader: an HTTP header name (letters, digits, '-')")
            }
            guard !["host", "content-type", "content-length", "accept", "mcp-session-id", "mcp-protocol-version"].contains(header.lowercased()) else {
                throw PortalError.invalid("credentialHeader: '\(header)' is set by the portal itself")
            }
        }
        if let credential = registration.credential {
            guard credential.utf8.count <= 8192, !credential.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw PortalError.invalid("credential: at most 8192 bytes, no control characters")
            }
            guard credential.isEmpty || header != nil || registration.credentialVariable != nil else {
                throw PortalError.invalid("credential: name the header (credentialHeader) or the environment variable (credentialVariable) it goes in")
            }
        }
        if let timeout = registration.timeoutSeconds, !(1...3600).contains(timeout) { throw PortalError.invalid("timeoutSeconds: 1–3600") }
        let existing = try server(named: name)
        if existing == nil, try catalog.pack(named: name) != nil {
            throw PortalError.conflict("a tool pack named '\(name)' is installed already; choose another name")
        }
        let secretName = Self.secretName(name)
        // A stored credential goes only where it went when it was given: a new address, program
        // or header needs it given again (else an administrator could send it elsewhere).
        if let existing, registration.credential == nil, try secrets.get(secretName) != nil,
           Self.destination(of: existing) != Self.destination(url: url, command: command, credentialName: header ?? registration.credentialVariable) {
            throw PortalError.invalid("credential: give the credential again when the server's address, program or credential header changes")
        }
        let sealed = try registration.credential.flatMap { $0.isEmpty ? nil : try secrets.seal(secretName, $0) }
        let removeCredential = registration.credential == "" || (header == nil && registration.credentialVariable == nil)
        let event = SecurityEvent(kind: .mcpServerRegistered, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "\(name): \(command.map { "local \($0.executable)" } ?? OutboundHTTP.redacted(url))" + (registration.credential == nil ? "" : ", credential \(sealed == nil ? "removed" : "set")"))
        let now = clock.now(), registrant = actor.user.id
        try await environment.write { [self] txn in
            // Re-read here: the listener may have recorded a state meanwhile.
            var record = try txn.get(records, name) ?? MCPServerRecord(
                name: name, title: "", url: url, command: nil, credentialHeader: nil, credentialVariable: nil, template: nil, timeoutSeconds: nil,
                registeredAt: now, registeredBy: registrant, status: .init(), offered: [], listedAt: nil, reviewed: nil, imported: [:])
            record.title = registration.title ?? template?.title ?? existing?.title ?? name
            record.url = url
            record.command = command
            record.credentialHeader = header
            record.credentialVariable = registration.credentialVariable
            record.template = registration.template ?? existing?.template
            record.timeoutSeconds = registration.timeoutSeconds ?? template?.timeoutSeconds ?? existing?.timeoutSeconds
            try txn.put(records, name, record)
            if let sealed { try txn.put(secrets.table, secretName, sealed) } else if removeCredential { _ = try txn.delete(secrets.table, secretName) }
            try events.record(event, in: txn)
        }
        clients.withLock { $0[name] = nil }
        let listed = try await refresh(name)
        startListening(name)
        return listed
    }

    /// Where a server's credential goes: scheme, host and port of its URL, or its program and
    /// arguments; and the header or variable that carries it.
    private static func destination(url: String, command: MCPCommand?, credentialName: String?) -> String {
        let place = command.map { ([$0.executable] + $0.arguments).joined(separator: "\u{0}") }
            ?? URL(string: url).map { "\($0.scheme ?? "")://\($0.host ?? ""):\($0.port ?? -1)" } ?? url
        return place + "\u{0}" + (credentialName ?? "")
    }

    private static func destination(of record: MCPServerRecord) -> String {
        destination(url: record.url, command: record.command, credentialName: record.credentialHeader ?? record.credentialVariable)
    }

    /// Disconnects a server: its pack leaves the catalog (and every organization), its
    /// credential is deleted, its listener stops.
    public func remove(_ name: String, by actor: Principal) async throws {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators disconnect MCP servers") }
        guard try server(named: name) != nil else { throw PortalError.notFound("MCP server") }
        let event = SecurityEvent(kind: .mcpServerRegistered, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "\(name): disconnected, its pack removed")
        try await catalog.uninstall(name, by: actor, event: event) { [records, secrets] txn in
            _ = try txn.delete(records, name)
            _ = try txn.delete(secrets.table, Self.secretName(name))
        }
        clients.withLock { $0[name] = nil }
        listeners.withLock { $0.removeValue(forKey: name) }?.cancel()
    }

    /// An http or https URL with a host, without a query or a user (an MCP endpoint such as `…/mcp`).
    static func isEndpoint(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, let host = url.host else { return false }
        // No user and password in it: the URL is shown and logged; a credential goes in a header.
        return ["http", "https"].contains(scheme) && !host.isEmpty && url.query == nil && url.fragment == nil && url.user == nil && url.password == nil
            && !text.contains(where: \.isWhitespace)
    }

    /// Lists the server's tools now and keeps the listing (and the connection's state). For
    /// system administrators through the API, and for the listener.
    @discardableResult
    public func refresh(_ name: String) async throws -> MCPServerRecord {
        guard let record = try server(named: name) else { throw PortalError.notFound("MCP server") }
        let client = try client(for: record)
        do {
            let (tools, serverName) = try await client.listTools()
            return try await update(name) { record in
                let changed = record.offered != tools
                record.offered = tools
                record.listedAt = self.clock.now()
                record.status.server = serverName
                record.status.succeeded(at: self.clock.now())
                return changed && record.reviewed != nil && !record.changes.isEmpty
            }
        } catch let error as MCPClientError {
            return try await noteFailure(name, error)
        }
    }

    /// Imports the chosen tools (remote name → risk) as the server's pack, replacing the one
    /// imported before; the current listing becomes the reviewed one.
    /// `listing`: the digest of the listing the administrator reviewed (`MCPServerRecord.listingDigest`);
    /// when the server's tools were listed again since, the import is refused (409).
    public func importTools(_ choices: [MCPToolChoice], from name: String, reviewing listing: String?, by actor: Principal) async throws -> MCPServerRecord {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators import MCP tools") }
        guard let record = try server(named: name) else { throw PortalError.notFound("MCP server") }
        if let listing, listing != record.listingDigest {
            throw PortalError.conflict("the server's tools were listed again since this review; review the new listing")
        }
        guard !choices.isEmpty else { throw PortalError.invalid("tools: choose at least one tool") }
        let offered = Dictionary(record.offered.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var imported: [String: RiskLevel] = [:]
        var tools: [Tool] = []
        var catalogNames: [String: String] = [:]
        let limits = record.timeoutSeconds.map { Tool.Limits(timeoutSeconds: $0, maxOutputBytes: Tool.Limits.standard.maxOutputBytes) }
        for choice in choices {
            guard let remote = offered[choice.name] else { throw PortalError.invalid("tools: '\(choice.name)' is not among the tools the server lists (refresh first)") }
            guard imported[choice.name] == nil else { throw PortalError.invalid("tools: '\(choice.name)' appears twice") }
            guard choice.risk >= remote.riskFloor else {
                throw PortalError.invalid("tools: '\(choice.name)' is not marked read-only by its server, so its risk is medium or higher")
            }
            let catalogName = remote.catalogName(in: name)
            if let other = catalogNames[catalogName] {
                throw PortalError.invalid("tools: '\(choice.name)' and '\(other)' would both be '\(catalogName)' in the catalog; import one of them")
            }
            catalogNames[catalogName] = choice.name
            imported[choice.name] = choice.risk
            tools.append(Tool(name: catalogName, title: remote.displayTitle, description: remote.description ?? "",
                              category: record.title, inputSchema: remote.catalogInputSchema, risk: choice.risk, permission: nil,
                              executor: .mcp(remote.name), limits: limits))
        }
        // Tenants see the pack's description: the server's name and host, not its address.
        let place = record.command.map { "run as \($0.executable)" } ?? "at \(URL(string: record.url)?.host ?? "")"
        let pack = ToolPack(name: name, title: record.title, version: "mcp-\(record.listingDigest.prefix(12))",
                            description: "Tools of the MCP server \(record.status.server ?? "") \(place)", tools: tools)
        let toolsChanged = SecurityEvent(kind: .packInstalled, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                         detail: "\(name) from its MCP server: \(tools.count) of \(record.offered.count) tools")
        let reviewed = record.offered
        try await catalog.install(pack, by: actor, event: toolsChanged) { [records, imported] txn in
            guard var current = try txn.get(records, name), current.offered == reviewed else {
                throw PortalError.conflict("the server's tools were listed again meanwhile; review the new listing")
            }
            current.reviewed = reviewed
            current.imported = imported
            try txn.put(records, name, current)
        }
        return try server(named: name) ?? record
    }

    /// Applies `change` to the stored record (re-read in the transaction); records a
    /// tools-changed event when it returns true.
    private func update(_ name: String, _ change: @escaping @Sendable (inout MCPServerRecord) -> Bool) async throws -> MCPServerRecord {
        try await environment.write { [self] txn in
            guard var record = try txn.get(records, name) else { throw PortalError.notFound("MCP server") }
            let before = record
            let announce = change(&record)
            if record != before { try txn.put(records, name, record) }
            if announce {
                let summary = record.changes.map { "\($0.tool) \($0.change.rawValue)" }.joined(separator: ", ")
                try events.record(SecurityEvent(kind: .mcpServerToolsChanged, userID: nil, username: nil, organizationID: nil,
                                                detail: "\(name): \(summary)"), in: txn)
            }
            return record
        }
    }

    private func noteFailure(_ name: String, _ error: MCPClientError) async throws -> MCPServerRecord {
        let message = scrubbed(error.description, name: name)
        return try await update(name) { record in
            record.status.failed(error, message: message, at: self.clock.now())
            return false
        }
    }

    /// The text without the server's credential, in case the server echoed it.
    private func scrubbed(_ text: String, name: String) -> String {
        guard let credential = try? secrets.get(Self.secretName(name)) else { return text }
        return ToolExecutor.scrub(text, [credential])
    }

    private func client(for record: MCPServerRecord) throws -> MCPClient {
        let endpoint: MCPClient.Connection.Endpoint = record.command.map { .command(executable: $0.executable, arguments: $0.arguments) } ?? .http(url: record.url)
        let credentialName = record.credentialHeader ?? record.credentialVariable
        if let client = clients.withLock({ $0[record.name] }), client.connection.endpoint == endpoint, client.connection.credentialName == credentialName {
            return client
        }
        let credential = credentialName == nil ? nil : try secrets.get(Self.secretName(record.name))
        let client = MCPClient(serverName: record.name, connection: .init(endpoint: endpoint, credentialName: credentialName, credential: credential),
                               http: http, runtime: runtime, clientVersion: clientVersion)
        clients.withLock { $0[record.name] = client }
        return client
    }

    // MARK: Calls

    /// Calls `tool` on the server of pack `pack` (the run path's executor for MCP tools).
    func call(pack: String, tool: String, arguments: JSONAny, limits: Tool.Limits) async -> ToolOutput {
        func failure(_ text: String) -> ToolOutput {
            ToolOutput(succeeded: false, text: "", json: nil, error: text, exitCode: nil, truncated: false)
        }
        let record: MCPServerRecord
        do {
            guard let found = try server(named: pack) else { return failure("the MCP server '\(pack)' is no longer registered") }
            record = found
        } catch {
            return failure("\(error)")
        }
        // A tool whose contract changed on the server (annotations, schemas) waits for a review:
        // its risk was chosen for what it was.
        if let reviewed = record.reviewed?.first(where: { $0.name == tool }) {
            let now = record.offered.first { $0.name == tool }
            let contract = now.map { $0.differences(from: reviewed).filter { $0 != "title" && $0 != "description" } } ?? []
            if now == nil || !contract.isEmpty {
                return failure("the MCP server '\(pack)' " + (now == nil ? "no longer offers this tool" : "changed this tool (\(contract.joined(separator: ", ")))")
                               + " since it was reviewed; a system administrator reviews it on the MCP servers page")
            }
        }
        let result: JSONAny
        let client: MCPClient
        do {
            client = try self.client(for: record)
            // The server may say the same thing twice (text and structured content): room for
            // both, and the limit is applied to what it said.
            result = try await client.callTool(tool, arguments: arguments, timeout: .seconds(limits.timeoutSeconds),
                                               maxBytes: limits.maxOutputBytes * 3 + (64 << 10)) { [weak self] method in
                if method == "notifications/tools/list_changed" { self?.relistSoon(pack) }
            }
            if record.status.state != .connected { _ = try? await update(pack) { $0.status.succeeded(at: self.clock.now()); return false } }
        } catch let error as MCPClientError {
            // Only what says the server is unwell changes its state, not one call's slowness,
            // size or refused arguments.
            switch error {
            case .unreachable, .refused, .status, .protocolError: _ = try? await noteFailure(pack, error)
            default: break
            }
            return failure("the MCP server '\(pack)' " + scrubbed(error.description, name: pack))
        } catch {
            return failure("\(error)")
        }
        return Self.output(of: result, limit: limits.maxOutputBytes, without: client.connection.credential)
    }

    /// A `tools/call` result as a run's output: the text content joined, `structuredContent`
    /// (or the text, when it is JSON) as the JSON, `isError` as a failure with the text as
    /// the reason.
    /// A server echoing the credential does not pass it on: `without` is replaced in the text,
    /// the error and every string of the JSON. Text over `limit` is cut (and marked); JSON
    /// over it is dropped.
    static func output(of result: JSONAny, limit: Int, without credential: String? = nil) -> ToolOutput {
        func clean(_ text: String) -> String { credential.map { ToolExecutor.scrub(text, [$0]) } ?? text }
        func cleanJSON(_ value: JSONAny) -> JSONAny {
            switch value {
            case let .string(text): .string(clean(text))
            case let .array(items): .array(items.map(cleanJSON))
            case let .object(members): .object(members.mapValues(cleanJSON))
            default: value
            }
        }
        let pieces = (result["content"]?.array ?? []).map { item -> String in
            switch item["type"]?.string {
            case "text": item["text"]?.string ?? ""
            case "resource": item["resource"]?["text"]?.string ?? "[resource \(item["resource"]?["uri"]?.string ?? "")]"
            case "resource_link": "[resource \(item["uri"]?.string ?? "")]"
            case let type: "[\(type ?? "unknown") content]"
            }
        }
        var text = clean(pieces.joined(separator: "\n"))
        let textTooLong = text.utf8.count > limit
        if textTooLong {
            // Cut at a character's boundary (at most three bytes back).
            var cut = text.utf8.prefix(limit)
            while String(cut) == nil { cut = cut.dropLast() }
            text = String(cut) ?? ""
        }
        let failed = result["isError"]?.bool == true
        var json = (result["structuredContent"] ?? JSONAny(json: Array(text.utf8))).map(cleanJSON)
        let jsonTooLong = (json?.canonicalJSON.count ?? 0) > limit
        if jsonTooLong { json = nil }
        let truncated = textTooLong || jsonTooLong
        var error = failed ? String(text.prefix(4096)) : ""
        if truncated { error = "output exceeded \(limit) bytes and was cut" + (error.isEmpty ? "" : "; " + error) }
        return ToolOutput(succeeded: !failed, text: text, json: json, error: error, exitCode: nil, truncated: truncated)
    }

    // MARK: Change notifications

    /// Re-lists the server's tools in the background (after it said its list changed). Word
    /// that comes while a re-listing is under way makes one more after it, never more: a
    /// server repeating itself costs one listing at a time.
    private func relistSoon(_ name: String) {
        let start = relisting.withLock { pending in
            if let again = pending[name] {
                if !again { pending[name] = true }
                return false
            }
            pending[name] = false
            return true
        }
        guard start else { return }
        jobs.detach { [self] in
            repeat {
                do { try await refresh(name) } catch { logger.warning("re-listing an MCP server's tools failed", metadata: ["server": "\(name)", "error": "\(error)"]) }
            } while relisting.withLock { pending in
                if pending[name] == true {
                    pending[name] = false
                    return true
                }
                pending[name] = nil
                return false
            }
        }
    }

    /// Starts a listener for every registered server (at start-up).
    func startListeners() throws {
        for record in try list() { startListening(record.name) }
    }

    /// Keeps the server's own event stream open while the portal runs and the server is
    /// registered, re-listing its tools when it says they changed and when it answers again
    /// after a failure; a server without such a stream is checked every 15 minutes instead.
    /// Reconnects with a growing delay (at most a minute) after a failure or a stream that
    /// ended within seconds. Registering the server again replaces its listener; it ends with
    /// the jobs service (a graceful shutdown), like other detached work.
    private func startListening(_ name: String) {
        // Only while the jobs service runs (the server), not in a command that opens the data.
        jobs.detach { [weak self] in await self?.listen(to: name) }
    }

    private func listen(to name: String) async {
        let listener = Task { [weak self] in
            var delay = Duration.seconds(1)
            while !Task.isCancelled, let self {
                let record: MCPServerRecord
                do {
                    guard let found = try server(named: name) else { return }
                    record = found
                } catch {
                    try? await Task.sleep(for: .seconds(60))
                    continue
                }
                // Back after a failure: what changed meanwhile is listed, and the state with it.
                if record.status.state != .connected, record.status.state != .unknown { _ = try? await refresh(name) }
                let opened = ContinuousClock.now
                do throws(MCPClientError) {
                    let client: MCPClient
                    do { client = try self.client(for: record) } catch { throw .protocolError("\(error)") }
                    try await client.listen(maxDuration: .seconds(3600)) { [weak self] method in
                        if method == "notifications/tools/list_changed" { self?.relistSoon(name) }
                    }
                    delay = ContinuousClock.now - opened > .seconds(30) ? .seconds(1) : min(delay * 2, .seconds(60))
                } catch .noStream {
                    try? await Task.sleep(for: .seconds(900))
                    _ = try? await refresh(name)
                    continue
                } catch {
                    if !Task.isCancelled { _ = try? await noteFailure(name, error) }
                    delay = min(delay * 2, .seconds(60))
                }
                try? await Task.sleep(for: delay)
            }
        }
        listeners.withLock { $0.updateValue(listener, forKey: name) }?.cancel()
        await withTaskCancellationHandler { await listener.value } onCancel: { listener.cancel() }
    }
}

/// What an administrator gives to connect a server (`credential`: `nil` keeps the stored
/// one, `""` removes it).
public struct MCPServerRegistration: Codable, Sendable {
    public var name: String
    public var title: String?
    public var url: String?
    /// Instead of `url`: a local server's program.
    public var command: MCPCommand?
    public var credentialHeader: String?
    /// For a local server: the environment variable its credential goes in.
    public var credentialVariable: String?
    public var credential: String?
    public var template: String?
    /// How long one call may take, 1–3600 seconds (default: the template's, else 30).
    public var timeoutSeconds: Int?

    public init(name: String, title: String? = nil, url: String? = nil, command: MCPCommand? = nil, credentialHeader: String? = nil,
                credentialVariable: String? = nil, credential: String? = nil, template: String? = nil, timeoutSeconds: Int? = nil) {
        self.timeoutSeconds = timeoutSeconds
        self.command = command
        self.credentialVariable = credentialVariable
        self.name = name
        self.title = title
        self.url = url
        self.credentialHeader = credentialHeader
        self.credential = credential
        self.template = template
    }
}

/// A local MCP server's program: an allowed executable (`tools.allowed_executables`, found on
/// `tools.search_path`) and its fixed arguments.
public struct MCPCommand: Codable, Sendable, Equatable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String] = []) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// One tool to import and the risk it gets.
public struct MCPToolChoice: Codable, Sendable {
    public var name: String
    public var risk: RiskLevel

    public init(name: String, risk: RiskLevel) {
        self.name = name
        self.risk = risk
    }
}

/// A registered server: where it is, how it answered last, what it lists and what of it was
/// imported.
public struct MCPServerRecord: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var name: String
    public var title: String
    /// The streamable-HTTP endpoint; empty for a local server.
    public var url: String
    /// A local server's allowed executable and arguments, spoken to over stdio.
    public var command: MCPCommand?
    /// The header (HTTP) that carries the sealed credential.
    public var credentialHeader: String?
    /// The environment variable (local server) that carries the sealed credential.
    public var credentialVariable: String?
    public var template: String?
    /// How long one call may take (`nil`: the standard 30 s).
    public var timeoutSeconds: Int?
    public var registeredAt: Date
    public var registeredBy: UUID
    public var status: MCPConnectionStatus
    /// The newest listing.
    public var offered: [RemoteTool]
    public var listedAt: Date?
    /// The listing the last import was reviewed against; `nil` before the first import.
    public var reviewed: [RemoteTool]?
    /// Imported tools (server names) and their risk.
    public var imported: [String: RiskLevel]

    /// Names the newest listing (SHA-256 of it), so an import can say which one was reviewed.
    public var listingDigest: String {
        Crypto.sha256((try? JSONAny(encoding: offered).canonicalJSON) ?? []).hexString
    }

    /// One difference between the newest listing and the reviewed one.
    public struct Change: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable, CaseIterable { case added, removed, changed }
        public let tool: String
        public let change: Kind
        public let fields: [String]
    }

    /// What changed on the server since the review, by tool name (nothing before a first import).
    public var changes: [Change] {
        guard let reviewed else { return [] }
        let before = Dictionary(reviewed.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let now = Dictionary(offered.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var changes: [Change] = []
        for (name, tool) in now {
            if let earlier = before[name] {
                let fields = tool.differences(from: earlier)
                if !fields.isEmpty { changes.append(Change(tool: name, change: .changed, fields: fields)) }
            } else {
                changes.append(Change(tool: name, change: .added, fields: []))
            }
        }
        for name in before.keys where now[name] == nil { changes.append(Change(tool: name, change: .removed, fields: [])) }
        return changes.sorted { $0.tool < $1.tool }
    }
}

/// How the last exchange with a server went.
public struct MCPConnectionStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Not contacted yet.
        case unknown
        case connected
        /// No answer (down, timed out, DNS, TLS).
        case unreachable
        /// The credential was refused (401/403).
        case refused
        /// It answered, but not as MCP says (an HTTP error, a protocol or JSON-RPC error).
        case failing
    }

    public var state: State = .unknown
    public var lastError: String?
    public var lastErrorAt: Date?
    public var lastContactAt: Date?
    /// The server's name and version from `initialize`.
    public var server: String?

    mutating func succeeded(at time: Date) {
        state = .connected
        lastContactAt = time
    }

    mutating func failed(_ error: MCPClientError, message: String, at time: Date) {
        state = switch error {
        case .unreachable, .timedOut: .unreachable
        case .refused: .refused
        default: .failing
        }
        lastError = message
        lastErrorAt = time
    }
}

/// A ready-made connection for a well-known MCP server: where it usually is, the header its
/// credential goes in, and a suggested risk for each of its tools (some left off by default).
public struct MCPServerTemplate: Codable, Sendable, Equatable {
    struct File: Codable { let templates: [MCPServerTemplate] }

    public struct Suggestion: Codable, Sendable, Equatable {
        public var risk: RiskLevel
        public var leaveOff: Bool?
    }

    public var name: String
    public var title: String
    public var description: String
    public var url: String
    public var credentialHeader: String
    public var credentialFormat: String
    public var setup: String
    public var documentation: String
    public var timeoutSeconds: Int?
    public var tools: [String: Suggestion]
}
