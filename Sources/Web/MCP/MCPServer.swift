import FoundationEssentials
import KV
import Portal

/// The portal as a Model Context Protocol server: the tool catalog for AI agents.
///
/// Guarantees: stateless — every request carries its caller (an API key) and its protocol
/// version, so nothing is lost when the portal restarts; an agent sees exactly the enabled
/// tools its caller may run in the caller's organization, and calls them through
/// `ToolRuns.request` with entry point `mcp` (permissions, input checks, approvals and the
/// audit trail as everywhere else). Refusals and invalid input come back as tool results
/// with `isError` (so a model can correct itself); only an unknown tool is a protocol error.
struct MCPServer: Sendable {
    /// The revisions the portal speaks, newest first; `initialize` answers the client's when
    /// it is here, else the newest.
    static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26"]
    static let latestVersion = supportedVersions[0]
    /// The revision a request without `MCP-Protocol-Version` (and no session to tell) speaks.
    static let assumedVersion = "2025-03-26"
    /// Tools per `tools/list` page.
    static let pageSize = 100
    /// The built-in tool that reports a run's status and result.
    static let runStatusTool = "portal.run-status"
    /// How long a call that waits for approval keeps its stream open when the client asked for
    /// progress, before it answers "still waiting".
    static let approvalWait: Duration = .seconds(120)

    let core: PortalCore
    let version: String
    /// Where a run's page is, for links in answers (`server.public_url`, else relative).
    let publicURL: String?
    /// Tool calls draw from the caller's tool-run budget, as `POST /api/tools/{name}/runs`
    /// does (`nil` when rate limits are off); the endpoint's other messages from its writes.
    let limiter: RateLimiter?

    /// Sends a progress notification for the call being answered (only on a streamed answer).
    typealias ProgressSink = @Sendable (_ progress: Double, _ message: String) async -> Void

    /// What answering a request needs besides its message.
    struct Call: Sendable {
        let principal: Principal
        let requestID: String
        /// Set when the answer is streamed and the client sent a progress token.
        let progress: ProgressSink?
    }

    /// The answer to `message`, or `nil` for a notification or a client's response.
    func answer(_ message: JSONRPCMessage, _ call: Call) async -> JSONRPCResponse? {
        guard let id = message.id, let method = message.method else { return nil }
        let params = message.params ?? [:]
        do {
            let result: JSONAny = switch method {
            case "initialize": try initialize(params)
            case "ping": .object([:])
            case "tools/list": try listTools(params, principal: call.principal)
            case "tools/call": try await callTool(params, call)
            default: throw JSONRPCError(.methodNotFound, "The portal does not offer \(method.prefix(64)).")
            }
            return JSONRPCResponse(id: id, outcome: .success(result))
        } catch let error as JSONRPCError {
            return JSONRPCResponse(id: id, outcome: .failure(error))
        } catch {
            return JSONRPCResponse(id: id, outcome: .failure(JSONRPCError(.internalError, "The portal could not answer: \(error)")))
        }
    }

    // MARK: Lifecycle

    private func initialize(_ params: [String: JSONAny]) throws -> JSONAny {
        guard case let .string(requested)? = params["protocolVersion"] else {
            throw JSONRPCError(.invalidParams, "initialize needs protocolVersion")
        }
        let agreed = Self.supportedVersions.contains(requested) ? requested : Self.latestVersion
        return .object([
            "protocolVersion": .string(agreed),
            "capabilities": .object(["tools": .object(["listChanged": .bool(true)])]),
            "serverInfo": .object(["name": .string("portal"), "title": .string("Self-Service Portal"), "version": .string(version)]),
            "instructions": .string("""
                Operations tools of this portal, limited to what the signed-in person may run in their organization. \
                Risky tools wait for a person's approval: the call then answers at once with the run's id; \
                call \(Self.runStatusTool) with that id later for the result. Every call is audited.
                """),
        ])
    }

    // MARK: Tools

    /// The tools `principal` may run in its organization, sorted by name, and the status tool.
    func visibleTools(for principal: Principal) throws -> [JSONAny] {
        guard let organizationID = principal.organizationID else { return [] }
        let policy = try core.runs.policy(for: organizationID)
        var listed = try core.tools.tools(in: organizationID)
            .filter { principal.has($0.requiredPermission) }
            .map { Self.describe($0, approval: policy.rule(for: $0.risk)) }
        if principal.has(.toolsRead) { listed.append(Self.runStatusDescription) }
        if principal.has(.toolsRun) {
            for summary in try core.workflows.list(in: organizationID) {
                if let latest = try core.workflows.version(summary.name, in: organizationID) { listed.append(Self.describe(latest.definition)) }
            }
        }
        return listed.sorted { Self.name(of: $0) < Self.name(of: $1) }
    }

    /// Whether an event of `kind` can change a caller's tool list or end its access: packs,
    /// roles, the approval policy (the descriptions tell which tools wait), keys and sessions.
    static func mayChangeTools(_ kind: EventKind) -> Bool {
        kind.mayEndAccess || [.packInstalled, .packEnabled, .packDisabled, .packAvailabilityChanged, .approvalPolicyChanged, .workflowSaved, .workflowDeleted].contains(kind)
    }

    private static func name(of tool: JSONAny) -> String {
        if case let .object(fields) = tool, case let .string(name)? = fields["name"] { name } else { "" }
    }

    /// One page of tools; the cursor is the last name of the page before (opaque to clients).
    private func listTools(_ params: [String: JSONAny], principal: Principal) throws -> JSONAny {
        var after: String?
        switch params["cursor"] {
        case nil, .null?: break
        case let .string(cursor)?:
            guard let decoded = Self.decodeCursor(cursor) else { throw JSONRPCError(.invalidParams, "The cursor is not one this server gave.") }
            after = decoded
        default: throw JSONRPCError(.invalidParams, "The cursor is a string.")
        }
        let tools = try visibleTools(for: principal).filter { after == nil || Self.name(of: $0) > after! }
        let page = Array(tools.prefix(Self.pageSize))
        var result: [String: JSONAny] = ["tools": .array(page)]
        if tools.count > page.count, let last = page.last { result["nextCursor"] = .string(Self.encodeCursor(Self.name(of: last))) }
        return .object(result)
    }

    static func encodeCursor(_ name: String) -> String {
        "t1." + Data(name.utf8).base64EncodedString()
    }

    static func decodeCursor(_ cursor: String) -> String? {
        guard cursor.hasPrefix("t1."), cursor.count <= 400, let data = Data(base64Encoded: String(cursor.dropFirst(3))) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// A catalog tool as MCP lists it. The hints follow the risk: read tools are read-only and
    /// idempotent; high and destructive ones may destroy.
    static func describe(_ tool: Tool, approval: ApprovalRule) -> JSONAny {
        var description = tool.description
        if approval.required {
            description += " Runs only after a person approves it (risk \(tool.risk.rawValue)): the call answers at once with the run's id; "
                + "call \(runStatusTool) later for the result."
        }
        return .object([
            "name": .string(tool.name),
            "title": .string(tool.title),
            "description": .string(description),
            "inputSchema": tool.inputSchema,
            "annotations": .object([
                "title": .string(tool.title),
                "readOnlyHint": .bool(tool.risk == .read),
                "destructiveHint": .bool(tool.risk >= .high),
                "idempotentHint": .bool(tool.risk == .read),
            ]),
        ])
    }

    /// Workflows are tools too: `workflow.<name>`, their inputs schema as the tool's.
    static let workflowPrefix = "workflow."

    static func describe(_ workflow: WorkflowDefinition) -> JSONAny {
        let description = (workflow.description.isEmpty ? workflow.title : workflow.description)
            + " A workflow: the call starts a run and answers when it ends (or, after \(Int(workflowWait.components.seconds)) s, with the run's id: "
            + "call \(runStatusTool) with it later). Its steps run under your role, with approvals and audit."
        return .object([
            "name": .string(workflowPrefix + workflow.name),
            "title": .string(workflow.title),
            "description": .string(description),
            "inputSchema": workflow.inputs,
            "annotations": .object(["title": .string(workflow.title), "readOnlyHint": .bool(false), "destructiveHint": .bool(true), "idempotentHint": .bool(false)]),
        ])
    }

    /// How long a workflow call waits for its run to end before answering with its id.
    static let workflowWait: Duration = .seconds(30)

    static let runStatusDescription: JSONAny = .object([
        "name": .string(runStatusTool),
        "title": .string("Run status"),
        "description": .string("A tool run's status and, once it has finished, its result: for calls that waited for approval."),
        "inputSchema": .object([
            "type": .string("object"),
            "properties": .object(["runId": .object(["type": .string("string"), "description": .string("The run's id, from the call that started it.")])]),
            "required": .array([.string("runId")]),
            "additionalProperties": .bool(false),
        ]),
        "annotations": .object(["title": .string("Run status"), "readOnlyHint": .bool(true), "destructiveHint": .bool(false), "idempotentHint": .bool(true)]),
    ])

    private func callTool(_ params: [String: JSONAny], _ call: Call) async throws -> JSONAny {
        guard case let .string(name)? = params["name"] else { throw JSONRPCError(.invalidParams, "tools/call needs the tool's name") }
        let arguments: JSONAny
        switch params["arguments"] {
        case nil, .null?: arguments = .object([:])
        case let .object(fields)?: arguments = .object(fields)
        default: return Self.failure("arguments must be an object")
        }
        if name == Self.runStatusTool { return try runStatus(arguments, principal: call.principal) }
        if let limiter, case let decision = limiter.take(.toolRun, subject: call.principal.id), !decision.allowed {
            return Self.failure("Too many tool runs; retry after \(decision.retryAfter) s.")
        }
        if name.hasPrefix(Self.workflowPrefix) { return try await callWorkflow(String(name.dropFirst(Self.workflowPrefix.count)), arguments, call) }
        let run: ToolRun
        do {
            run = try await core.runs.request(.init(principal: call.principal, tool: name, input: arguments, entryPoint: .mcp, requestID: call.requestID))
        } catch let error as ToolError {
            if case .notFound = error { throw JSONRPCError(.invalidParams, "Unknown tool: \(name.prefix(128))") }
            return Self.failure(error.description)
        }
        guard run.status == .pendingApproval, let progress = call.progress, let organizationID = call.principal.organizationID else {
            return result(of: run)
        }
        // The client asked for progress and reads a stream: keep it informed while the run waits.
        await progress(0, "Run \(run.id) waits for approval: \(link(to: run))")
        let settled = try await core.runs.waitUntilFinal(run.id, in: organizationID, timeout: Self.approvalWait) ?? run
        if settled.status != .pendingApproval { await progress(1, "Run \(run.id) is \(settled.status.rawValue).") }
        return result(of: settled)
    }

    private func runStatus(_ arguments: JSONAny, principal: Principal) throws -> JSONAny {
        guard principal.has(.toolsRead) else { return Self.failure("Reading runs needs the tools:read permission.") }
        guard case let .object(fields) = arguments, case let .string(text)? = fields["runId"], fields.count == 1 else {
            return Self.failure("Send {\"runId\": \"<the run's id>\"}.")
        }
        guard let organizationID = principal.organizationID, let id = TimeOrderedID(text) else { return Self.failure("No run \(text.prefix(64)) in this organization.") }
        if let run = try core.runs.run(id, in: organizationID) { return result(of: run) }
        if let run = try core.workflows.run(id, in: organizationID) { return result(of: run) }
        return Self.failure("No run \(text.prefix(64)) in this organization.")
    }

    /// Starts a workflow run as the caller and waits a while for it to end.
    private func callWorkflow(_ workflow: String, _ arguments: JSONAny, _ call: Call) async throws -> JSONAny {
        guard let organizationID = call.principal.organizationID, call.principal.has(.toolsRun), try core.workflows.summary(workflow, in: organizationID) != nil else {
            throw JSONRPCError(.invalidParams, "Unknown tool: \(Self.workflowPrefix)\(workflow.prefix(64))")
        }
        let run: WorkflowRun
        do {
            run = try await core.workflows.start(workflow, inputs: arguments, by: call.principal, trigger: .mcp)
        } catch let error as PortalError {
            return Self.failure(error.message)
        }
        if let progress = call.progress, !(run.status.isFinal) { await progress(0, "Workflow run \(run.id) started: \(link(toWorkflowRun: run))") }
        return result(of: try await core.workflows.waitUntilSettled(run.id, in: organizationID, timeout: Self.workflowWait) ?? run)
    }

    func link(toWorkflowRun run: WorkflowRun) -> String {
        (publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "") + "/#/workflow-runs/\(run.id)"
    }

    /// A workflow run as a tool result: its outputs once it succeeded, else where it stands.
    func result(of run: WorkflowRun) -> JSONAny {
        var summary: [String: JSONAny] = [
            "runId": .string(run.id.description), "workflow": .string(run.workflow), "version": .number(Double(run.version)),
            "status": .string(run.status.rawValue), "link": .string(link(toWorkflowRun: run)),
        ]
        if let outputs = run.outputs { summary["outputs"] = outputs }
        if let error = run.error { summary["error"] = .string(error) }
        let text: String = switch run.status {
        case .succeeded: String(decoding: (run.outputs ?? .object([:])).canonicalJSON, as: UTF8.self)
        case .failed, .cancelled, .needsAttention: "Workflow run \(run.id) \(run.status.rawValue): \(run.error ?? "")"
        case .queued, .running, .paused:
            "Workflow run \(run.id) is \(run.status.rawValue) (waiting steps: \(run.steps.filter { $0.value.status == .waiting }.keys.sorted().joined(separator: ", "))). "
                + "Call \(Self.runStatusTool) with runId \(run.id) later, or open \(link(toWorkflowRun: run))."
        }
        return .object([
            "content": .array([.object(["type": .string("text"), "text": .string(text)])]),
            "structuredContent": .object(summary),
            "isError": .bool([.failed, .cancelled, .needsAttention].contains(run.status)),
        ])
    }

    func link(to run: ToolRun) -> String {
        (publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "") + "/#/runs/\(run.id)"
    }

    /// A run as a tool result: its output when it has finished, else where it stands. The
    /// structured content is the run's summary with the output's JSON; the text is the output.
    func result(of run: ToolRun) -> JSONAny {
        var summary: [String: JSONAny] = [
            "runId": .string(run.id.description), "tool": .string(run.tool), "status": .string(run.status.rawValue), "link": .string(link(to: run)),
        ]
        let text: String
        switch run.status {
        case .pendingApproval:
            let expires = run.approvalExpiresAt.map { " It expires at \($0.ISO8601Format()) unless someone decides." } ?? ""
            text = "Run \(run.id) of \(run.tool) waits for a person's approval.\(expires) Call \(Self.runStatusTool) with runId \(run.id) later for the result, "
                + "or open \(link(to: run))."
        case .running:
            text = "Run \(run.id) of \(run.tool) is running. Call \(Self.runStatusTool) with runId \(run.id) again shortly."
        default:
            if let output = run.output {
                summary["output"] = output.json ?? .string(output.text)
                if !output.error.isEmpty { summary["error"] = .string(output.error) }
                if output.truncated { summary["truncated"] = .bool(true) }
                text = output.text.isEmpty ? (output.error.isEmpty ? "Run \(run.id) \(run.status.rawValue)." : output.error) : output.text
            } else {
                text = "Run \(run.id) of \(run.tool) \(run.status.rawValue)."
            }
        }
        let failed = [.failed, .rejected, .expired, .interrupted, .cancelled].contains(run.status)
        return .object([
            "content": .array([.object(["type": .string("text"), "text": .string(text)])]),
            "structuredContent": .object(summary),
            "isError": .bool(failed),
        ])
    }

    /// A call the portal refused or could not make, told to the model.
    static func failure(_ reason: String) -> JSONAny {
        .object(["content": .array([.object(["type": .string("text"), "text": .string(reason)])]), "isError": .bool(true)])
    }
}
