import FoundationEssentials
import Hummingbird
import Portal

/// A connected MCP server as system administrators see it: never its credential, only
/// whether one is set; each listed tool with the risk it has or would get and whether it is
/// imported; what changed on the server since the last review.
/// (Described inline, not as a named component: components are shared by both documents, and
/// this one has no place in the stable API's.)
struct MCPServerBody: Codable {

    struct ToolReview: Codable {
        /// The server's name for it.
        let name: String
        /// Its name in the catalog once imported.
        let catalogName: String
        let title: String?
        let description: String?
        let readOnly: Bool
        let destructive: Bool?
        let idempotent: Bool?
        /// The lowest risk it may be given (`read` only when the server marks it read-only).
        let riskFloor: RiskLevel
        /// Its risk in the catalog when imported, else the suggestion (annotations, template).
        let risk: RiskLevel
        let imported: Bool
        /// Whether the review form ticks it: imported ones, and on a first import all but
        /// those the template leaves off; tools the server added later are not ticked.
        let include: Bool
        /// `added` or `changed` since the review, when it was.
        let change: String?
        /// Part of its input schema uses what the portal does not check; the server does.
        let checkedByServerOnly: Bool
        let inputSchema: JSONAny
    }

    let name: String
    let title: String
    /// The streamable-HTTP endpoint, or empty for a local server (`command`).
    let url: String
    let command: MCPCommand?
    let credentialHeader: String?
    let credentialVariable: String?
    let hasCredential: Bool
    let template: String?
    let state: String
    let lastError: String?
    let lastErrorAt: Date?
    let lastContactAt: Date?
    let server: String?
    let listedAt: Date?
    /// Whether tools were imported since it was connected.
    let imported: Bool
    /// Names this listing; an import sends it back, so a listing newer than the one reviewed is not imported.
    let listing: String
    let changes: [MCPServerRecord.Change]
    let tools: [ToolReview]

    init(_ record: MCPServerRecord, template: MCPServerTemplate?, hasCredential: Bool) {
        name = record.name
        title = record.title
        url = record.url
        command = record.command
        credentialHeader = record.credentialHeader
        credentialVariable = record.credentialVariable
        self.hasCredential = hasCredential
        self.template = record.template
        state = record.status.state.rawValue
        lastError = record.status.lastError
        lastErrorAt = record.status.lastErrorAt
        lastContactAt = record.status.lastContactAt
        server = record.status.server
        listedAt = record.listedAt
        imported = record.reviewed != nil
        listing = record.listingDigest
        changes = record.changes
        let changeByTool = Dictionary(record.changes.map { ($0.tool, $0.change.rawValue) }, uniquingKeysWith: { first, _ in first })
        tools = record.offered.sorted { $0.name < $1.name }.map { remote in
            let suggestion = template?.tools[remote.name]
            let importedRisk = record.imported[remote.name]
            let schema = remote.catalogInputSchema
            return ToolReview(name: remote.name, catalogName: remote.catalogName(in: record.name), title: remote.title, description: remote.description,
                              readOnly: remote.isReadOnly, destructive: remote.destructiveHint, idempotent: remote.idempotentHint,
                              riskFloor: remote.riskFloor, risk: importedRisk ?? max(suggestion?.risk ?? remote.suggestedRisk, remote.riskFloor),
                              imported: importedRisk != nil,
                              include: importedRisk != nil || (record.reviewed == nil && suggestion?.leaveOff != true),
                              change: changeByTool[remote.name], checkedByServerOnly: Self.mentionsUnchecked(schema), inputSchema: schema)
        }
    }

    private static func mentionsUnchecked(_ schema: JSONAny) -> Bool {
        switch schema {
        case let .object(members): members["x-mcp-unchecked"] == .bool(true) || members.values.contains(where: mentionsUnchecked)
        case let .array(items): items.contains(where: mentionsUnchecked)
        default: false
        }
    }
}

extension PortalRoutes {
    /// Connecting external MCP servers and importing their tools (system administrators).
    func addMCPServerRoutes(core: PortalCore) {
        let servers = core.mcpServers

        @Sendable func body(_ record: MCPServerRecord) throws -> MCPServerBody {
            MCPServerBody(record, template: record.template.flatMap { servers.templates[$0] }, hasCredential: try servers.hasCredential(record))
        }
        @Sendable func named(_ context: PortalContext) throws -> String {
            let name = context.parameters.get("name") ?? ""
            guard try servers.server(named: name) != nil else { throw PortalError.notFound("MCP server") }
            return name
        }

        get("/api/mcp-servers", .systemAdministrator, .doc("listMCPServers", "Connected MCP servers, their state and tools.", returns: APISchema.list("servers", of: MCPServerBody.self))) { _, _ in
            try Self.jsonResponse(.ok, ["servers": try servers.list().map(body)])
        }

        get("/api/mcp-servers/templates", .systemAdministrator, .doc("listMCPServerTemplates", "Ready-made connections for well-known MCP servers (PagerDuty, Jira, Slack, GitHub).", returns: APISchema.list("templates", of: MCPServerTemplate.self))) { _, _ in
            try Self.jsonResponse(.ok, ["templates": servers.templates.values.sorted { $0.name < $1.name }])
        }

        post("/api/mcp-servers", .systemAdministrator, .doc("connectMCPServer", "Connects an MCP server (or changes its address or credential) and lists its tools for review.", body: MCPServerRegistration.self, returns: APISchema.of(MCPServerBody.self), status: 201)) { request, context in
            let registration = try await Self.decode(MCPServerRegistration.self, request, context)
            let record = try await servers.register(registration, by: context.principal!)
            var response = try Self.jsonResponse(.created, try body(record))
            response.headers[.location] = "/api/mcp-servers/\(record.name)"
            return response
        }

        get("/api/mcp-servers/{name}", .systemAdministrator, .doc("getMCPServer", "One MCP server: state, last error, tools for review and changes since the last review.", returns: APISchema.of(MCPServerBody.self))) { _, context in
            guard let record = try servers.server(named: context.parameters.get("name") ?? "") else { throw PortalError.notFound("MCP server") }
            return try Self.jsonResponse(.ok, try body(record))
        }

        post("/api/mcp-servers/{name}/refresh", .systemAdministrator, .doc("refreshMCPServer", "Lists the server's tools again now.", returns: APISchema.of(MCPServerBody.self))) { _, context in
            try Self.jsonResponse(.ok, try body(try await servers.refresh(try named(context))))
        }

        on(.delete, "/api/mcp-servers/{name}", .systemAdministrator, .doc("disconnectMCPServer", "Disconnects a server: its pack leaves every organization's catalog and its credential is deleted.", status: 204)) { _, context in
            try await servers.remove(try named(context), by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        /// `listing`: the `listing` of the server as reviewed (409 when it was listed again since).
        struct Selection: Codable { let tools: [MCPToolChoice]; let listing: String? }
        post("/api/mcp-servers/{name}/import", .systemAdministrator, .doc("importMCPTools", "Imports the chosen tools with their risk as the server's pack; the listing becomes the reviewed one.", body: Selection.self, returns: APISchema.of(MCPServerBody.self))) { request, context in
            let selection = try await Self.decode(Selection.self, request, context)
            return try Self.jsonResponse(.ok, try body(try await servers.importTools(selection.tools, from: try named(context), reviewing: selection.listing, by: context.principal!)))
        }
    }
}
