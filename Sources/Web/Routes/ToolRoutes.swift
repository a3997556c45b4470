import FoundationEssentials
import HTTPTypes
import Hummingbird
import KV
import NIOCore
import Portal
import ServiceLifecycle

/// The catalog, runs, approvals, activity, audit and the notification stream. Running a tool
/// always goes through `ToolRuns.request`, the one execution path.
extension PortalRoutes {
    func addToolRoutes(core: PortalCore) {
        let runs = core.runs, catalog = core.tools

        get("/api/tools", .permission(.toolsRead), .doc("listTools", "The tools of the enabled packs, with whether you may run each.", returns: APISchema.of(ToolList.self))) { _, context in
            let principal = context.principal!
            let organizationID = try Self.requireOrganization(principal)
            let tools = try catalog.tools(in: organizationID).map { ToolBody($0, principal: principal) }
            let categories = Array(Set(tools.map(\.category))).sorted()
            return try Self.jsonResponse(.ok, ToolList(categories: categories, tools: tools))
        }

        get("/api/tools/{name}", .permission(.toolsRead), .doc("getTool", "One tool with its input schema.", returns: APISchema.of(ToolBody.self))) { _, context in
            let principal = context.principal!
            guard let name = context.parameters.get("name"),
                  let tool = try catalog.tool(named: name, in: try Self.requireOrganization(principal))
            else { throw ToolError.notFound(context.parameters.get("name") ?? "") }
            return try Self.jsonResponse(.ok, ToolBody(tool, principal: principal))
        }

        struct RunBody: Decodable { let input: JSONAny? }
        post("/api/tools/{name}/runs", .permission(.toolsRun), .doc("runTool", "Runs a tool: 201 with the result, or 202 when it waits for approval.", body: RunBody.self, rate: .limited(.toolRun), responses: [ResponseSpec(201, "Ran; the run with its result.", schema: APISchema.of(RunView.self)), ResponseSpec(202, "Waiting for approval.", schema: APISchema.of(RunView.self))], created: .init(path: "/api/runs/{id}"))) { request, context in
            let principal = context.principal!
            let body = try await Self.decode(RunBody.self, request, context)
            let run = try await runs.request(.init(
                principal: principal, tool: context.parameters.get("name") ?? "", input: body.input ?? .object([:]),
                entryPoint: principal.apiKeyID == nil ? .catalog : .api, requestID: context.requestID))
            var response = try Self.jsonResponse(run.status == .pendingApproval ? .accepted : .created, RunView(run))
            response.headers[.location] = "/api/runs/\(run.id)"
            return response
        }

        get("/api/runs/{id}", .permission(.toolsRead), .doc("getRun", "One run; with wait, answers when it is final or after that many seconds.", returns: APISchema.of(RunView.self), query: [.integer("wait", "Seconds to wait for the run to be final.", minimum: 0, maximum: 30)])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            let id = try Self.pathID(context, "run")
            // `?wait=N`: answer when the run is final or after N seconds (at most 30).
            let wait = request.uri.queryParameters.get("wait").flatMap(Int.init).map { min(max($0, 0), 30) } ?? 0
            let run = wait > 0 ? try await runs.waitUntilFinal(id, in: organizationID, timeout: .seconds(wait)) : try runs.run(id, in: organizationID)
            guard let run else { throw PortalError.notFound("run") }
            return try Self.jsonResponse(.ok, RunView(run))
        }

        struct Cancellation: Decodable { let reason: String? }
        post("/api/runs/{id}/cancel", .authenticated, .doc("cancelRun", "Withdraws a run that waits for approval (its requester, or someone who decides approvals); an executing run cannot be stopped: 409.", body: Cancellation.self, returns: APISchema.of(RunView.self))) { request, context in
            let body = try await Self.decode(Cancellation.self, request, context)
            let run = try await runs.cancel(runID: try Self.pathID(context, "run"), reason: body.reason ?? "", by: context.principal!, requestID: context.requestID)
            return try Self.jsonResponse(.ok, RunView(run))
        }

        get("/api/approvals", .permission(.approvalsDecide), .doc("listApprovals", "Runs waiting for a decision.", returns: APISchema.list("approvals", of: RunView.self))) { _, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            return try Self.jsonResponse(.ok, ["approvals": try runs.pendingApprovals(in: organizationID).map(RunView.init)])
        }

        struct DecisionBody: Decodable {
            let approve: Bool
            let comment: String?
        }
        post("/api/approvals/{id}/decision", .permission(.approvalsDecide), .doc("decideApproval", "Approves or rejects a waiting run.", body: DecisionBody.self, returns: APISchema.of(RunView.self))) { request, context in
            let body = try await Self.decode(DecisionBody.self, request, context)
            let run = try await runs.decide(runID: try Self.pathID(context, "run"), approve: body.approve, comment: body.comment ?? "",
                                            by: context.principal!, requestID: context.requestID)
            return try Self.jsonResponse(.ok, RunView(run))
        }

        get("/api/approvals/policy", .permission(.admin), .doc("getApprovalPolicy", "The organization's approval policy by risk, with its ETag.", returns: APISchema.of(ApprovalPolicy.self), revision: .tagged)) { _, context in
            try APIConventions.taggedResponse(try runs.policy(for: try Self.requireOrganization(context.principal!)))
        }

        on(.put, "/api/approvals/policy", .permission(.admin), RouteDoc("setApprovalPolicy", "Replaces the organization's approval policy.", body: Self.approvalPolicySchema, status: 204, revision: .conditional)) { request, context in
            let policy = try await Self.decode(ApprovalPolicy.self, request, context)
            try await runs.setPolicy(policy, by: context.principal!, precondition: try APIConventions.precondition(request) { (current: ApprovalPolicy) in current })
            return Response(status: .noContent, headers: [.cacheControl: "no-store", .eTag: try APIConventions.entityTag(policy)])
        }

        get("/api/runs", .permission(.toolsRead), .doc("listRuns", "Runs in the organization (its activity), newest first, filtered.", returns: APISchema.of(ActivityPage.self), query: QueryParameter.paging + QueryParameter.filters + [.choice("status", RunStatus.allCases.map(\.rawValue), "Only runs with this status.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            let query = request.uri.queryParameters
            var filter = ToolRuns.ActivityFilter(tool: query.get("tool"), requester: query.get("person"))
            if let status = query.get("status") {
                guard let parsed = RunStatus(rawValue: status) else {
                    throw ProblemDetails(.badRequest, detail: "status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                filter.status = parsed
            }
            filter.since = try query.get("since").map { try Self.parseTime($0, "since") }
            filter.until = try query.get("until").map { try Self.parseTime($0, "until") }
            let limit = try APIConventions.pageSize(request)
            let page = try runs.activity(in: organizationID, filter: filter, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: page.count == limit ? page.last?.id.description : nil)
            return try APIConventions.pageResponse(ActivityPage(runs: page.map(RunView.init), next: next, limit: limit), next: next)
        }

        get("/api/audit", .permission(.auditRead), .doc("listAudit", "The organization's audit trail, newest first, filtered.", returns: APISchema.of(AuditPage.self), query: QueryParameter.paging(cursorPattern: "^[0-9]{1,19}$") + QueryParameter.filters + [.string("kind", "Kinds starting with this (run, approval, sign-in).")])) { request, context in
            let principal = context.principal!
            let organizationID = try Self.requireOrganization(principal)
            let query = request.uri.queryParameters
            let limit = try APIConventions.pageSize(request)
            let before = try query.get("cursor").map { value -> UInt64 in
                guard let sequence = UInt64(value) else { throw ProblemDetails(.badRequest, detail: "cursor must come from the previous page's next link.") }
                return sequence
            }
            let kind = query.get("kind"), tool = query.get("tool"), person = query.get("person")
            let since = try query.get("since").map { try Self.parseTime($0, "since") }, until = try query.get("until").map { try Self.parseTime($0, "until") }
            let entries = try core.audit.page(limit: limit, before: before) { entry in
                // The organization's entries; portal-wide ones (sign-ins) for system administrators.
                (entry.organizationID == organizationID || (entry.organizationID == nil && principal.user.isAdministrator))
                    && (kind.map { entry.kind.hasPrefix($0) } ?? true) && (tool.map { entry.tool == $0 } ?? true)
                    && (person.map { entry.principalName == $0 || entry.approver == $0 } ?? true)
                    && (since.map { entry.time >= $0 } ?? true) && (until.map { entry.time < $0 } ?? true)
            }
            let next = APIConventions.nextLink(request, cursor: entries.count == limit ? entries.last.map { String($0.sequence) } : nil)
            return try APIConventions.pageResponse(AuditPage(entries: entries, next: next, limit: limit), next: next)
        }

        // The chain is the portal's, one for every organization; checking it reveals no
        // entry's content, so anyone who reads an audit trail may have it checked.
        get("/api/audit/verification", .permission(.auditRead), .doc("verifyAudit", "Checks the audit chain and reports what does not verify.", returns: APISchema.of(VerificationBody.self))) { _, _ in
            let result = try core.audit.verify()
            return try Self.jsonResponse(.ok, VerificationBody(intact: result.isIntact, entriesChecked: result.entriesChecked, headSequence: result.headSequence,
                                                               headHash: result.headHash, problems: result.problems))
        }

        // Packs: whether each is enabled here and available to this organization; system
        // administrators also see every organization it is available to.
        get("/api/packs", .permission(.toolsRead), .doc("listPacks", "Tool packs: enabled here, available to this organization.", returns: APISchema.list("packs", of: PackBody.self))) { _, context in
            let principal = context.principal!
            let organizationID = try Self.requireOrganization(principal)
            let enabled = try catalog.enabledPacks(in: organizationID)
            let administrator = principal.user.isAdministrator
            return try Self.jsonResponse(.ok, ["packs": try catalog.packs().map { pack in
                PackBody(name: pack.name, title: pack.title, version: pack.version, description: pack.description, tools: pack.tools.count,
                         shipped: catalog.shipped[pack.name] != nil, enabled: enabled.contains(pack.name),
                         available: try administrator || catalog.isAvailable(pack.name, to: organizationID),
                         availableTo: try administrator ? catalog.availability(of: pack.name).sorted { $0.uuidString < $1.uuidString } : nil)
            }])
        }

        struct Availability: Decodable { let organizations: [UUID] }
        on(.put, "/api/packs/{name}/availability", .systemAdministrator, .doc("setPackAvailability", "Which organizations may enable a pack.", body: Availability.self, status: 204)) { request, context in
            let body = try await Self.decode(Availability.self, request, context)
            for id in body.organizations where try core.organizations.organization(id) == nil { throw PortalError.notFound("organization") }
            try await catalog.setAvailability(pack: context.parameters.get("name") ?? "", to: Set(body.organizations), by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        post("/api/packs", .systemAdministrator, .doc("installPack", "Installs (or replaces) a tool pack.", body: ToolPack.self, status: 201, maxBodyBytes: 4 << 20)) { request, context in
            let pack = try await Self.decode(ToolPack.self, request, context)
            try await catalog.install(pack, by: context.principal!)
            return Response(status: .created, headers: [.location: "/api/packs", .cacheControl: "no-store"])
        }

        struct Enablement: Decodable { let enabled: Bool }
        post("/api/packs/{name}/enabled", .permission(.admin), .doc("setPackEnabled", "Enables or disables a pack in the organization.", body: Enablement.self, status: 204)) { request, context in
            let body = try await Self.decode(Enablement.self, request, context)
            try await catalog.setEnabled(body.enabled, pack: context.parameters.get("name") ?? "", by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        // The notification stream. Before it delivers an event, at every event that may end someone's access and at
        // every keep-alive it checks the principal again (`PortalCore.current`): the stream ends
        // with the session or key that opened it, or with its membership of the organization,
        // and sends nothing after. Others' events are dropped without a look-up.
        get("/api/events", .authenticated, .doc("streamEvents", "Server-sent events: approvals, run results and conversation turns for you.", responses: [ResponseSpec(200, "An event stream that stays open.", contentType: "text/event-stream")], webOnly: true)) { _, context in
            let opened = context.principal!
            let stream = core.notifications.subscribe()
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 3000\n: connected\n\n"))
                enum Item: Sendable { case notification(PortalNotification), keepAlive }
                // Bounded like the subscription: a client that stops reading loses the oldest
                // items, never grows the server's memory.
                let (items, sink) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(Notifications.bufferLimit))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await notification in stream { sink.yield(.notification(notification)) }
                        sink.finish()
                    }
                    group.addTask { try await Self.keepAlive(sink, with: .keepAlive) }
                    // A graceful shutdown ends the stream at once (no more items) instead of
                    // holding the server's drain until its grace period runs out.
                    try await withGracefulShutdownHandler {
                        var principal = opened
                        for await item in items {
                            if case let .notification(notification) = item, notification.audience != .portal, !notification.isFor(principal) { continue }
                            guard let current = try await core.current(opened), current.organizationID == opened.organizationID else { break }
                            principal = current
                            switch item {
                            case let .notification(notification) where notification.isFor(principal):
                                try await writer.write(ByteBuffer(string: Self.serverSentEvent(notification.kind.rawValue, NotificationBody(notification))))
                            case .notification: continue
                            case .keepAlive: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                            }
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

    /// The policy's schema: the recorded one, with the rules `ApprovalPolicy.validate` applies
    /// that a type cannot state (a rule per risk level, the expiry's range, an approver list
    /// for all-of, no self-approval and always an approval from high risk up), so that every
    /// policy the schema admits is accepted.
    static var approvalPolicySchema: JSONAny {
        guard case var .object(rule) = APISchema.of(ApprovalRule.self), case var .object(properties)? = rule["properties"] else { return APISchema.of(ApprovalPolicy.self) }
        properties["expiresAfterMinutes"] = .object(["type": .string("integer"), "minimum": .number(Double(ApprovalRule.expiryRange.lowerBound)),
                                                     "maximum": .number(Double(ApprovalRule.expiryRange.upperBound))])
        rule["properties"] = .object(properties)
        rule["if"] = .object(["properties": .object(["mode": .object(["const": .string(ApprovalRule.Mode.allOf.rawValue)])])])
        rule["then"] = .object(["properties": .object(["approvers": .object(["type": .string("array"), "items": .object(["type": .string("string")]), "minItems": .number(1)])])])
        var strict = rule, strictProperties = properties
        strictProperties["required"] = .object(["const": .bool(true)])
        strictProperties["allowSelfApproval"] = .object(["const": .bool(false)])
        strict["properties"] = .object(strictProperties)
        let rules = Dictionary(uniqueKeysWithValues: RiskLevel.allCases.map { ($0.rawValue, JSONAny.object($0 >= .high ? strict : rule)) })
        return .object(["type": .string("object"), "required": .array([.string("rules"), .string("schemaVersion")]), "properties": .object([
            "schemaVersion": .object(["type": .string("integer"), "const": .number(1)]),
            "rules": .object(["type": .string("object"), "properties": .object(rules), "additionalProperties": .bool(false)]),
        ])])
    }

    static func requireOrganization(_ principal: Principal) throws -> UUID {
        guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
        return organizationID
    }

    /// The record id in the path (`{id}`); one that is not an id names nothing: 404.
    static func pathID(_ context: PortalContext, _ what: String) throws -> TimeOrderedID {
        guard let id = context.parameters.get("id").flatMap(TimeOrderedID.init) else { throw PortalError.notFound(what) }
        return id
    }

    /// `cursor`, from the previous page's `next` link, when given: the id the page starts after.
    static func pageCursor(_ request: Request) throws -> TimeOrderedID? {
        guard let text = request.uri.queryParameters.get("cursor") else { return nil }
        guard let id = TimeOrderedID(text) else { throw ProblemDetails(.badRequest, detail: "cursor must come from the previous page's next link.") }
        return id
    }

    static func parseTime(_ text: String, _ name: String) throws -> Date {
        guard let date = RFC3339.date(text) else { throw ProblemDetails(.badRequest, detail: "\(name) must be an ISO 8601 time such as 2026-11-26T09:00:00Z.") }
        return date
    }
}

/// A tool as the catalog shows it, with whether the caller may run it.
struct ToolBody: Codable, SchemaComponent {
    static let componentName = "Tool"
    let name: String
    let title: String
    let description: String
    let category: String
    let risk: String
    let permission: String
    let inputSchema: JSONAny
    let canRun: Bool
    let needsApproval: Bool

    init(_ tool: Tool, principal: Principal) {
        name = tool.name
        title = tool.title
        description = tool.description
        category = tool.category
        risk = tool.risk.rawValue
        permission = tool.requiredPermission.rawValue
        inputSchema = tool.inputSchema
        canRun = principal.has(tool.requiredPermission)
        needsApproval = tool.risk >= .medium
    }
}

struct ToolList: Codable {
    let categories: [String]
    let tools: [ToolBody]
}

/// A run as the API shows it: the input only redacted.
struct RunView: Codable, SchemaComponent {
    static let componentName = "Run"
    let id: String
    let tool: String
    let toolTitle: String
    let risk: String
    let status: String
    let requester: String
    let entryPoint: String
    let input: JSONAny
    let createdAt: Date
    let updatedAt: Date
    let approvalExpiresAt: Date?
    let approvalRule: ApprovalRule?
    let decisions: [ApprovalDecision]
    let output: ToolOutput?
    let durationMilliseconds: Double?

    init(_ run: ToolRun) {
        id = run.id.description
        tool = run.tool
        toolTitle = run.toolTitle
        risk = run.risk.rawValue
        status = run.status.rawValue
        requester = run.requesterName
        entryPoint = run.entryPoint.rawValue
        input = run.redactedInput
        createdAt = run.createdAt
        updatedAt = run.updatedAt
        approvalExpiresAt = run.approvalExpiresAt
        approvalRule = run.approvalRule
        decisions = run.decisions
        output = run.output
        durationMilliseconds = run.durationMilliseconds
    }
}

/// A page of runs. Every page has the same members: its items, `next` (the link to the page
/// after it; absent on the last) and `limit` (the most items a page holds, as served).
struct ActivityPage: Codable {
    let runs: [RunView]
    let next: String?
    let limit: Int
}

struct AuditPage: Codable {
    let entries: [AuditEntry]
    let next: String?
    let limit: Int
}

struct VerificationBody: Codable {
    let intact: Bool
    let entriesChecked: Int
    let headSequence: UInt64
    let headHash: String
    let problems: [String]
}

struct PackBody: Codable {
    let name: String
    let title: String
    let version: String
    let description: String
    let tools: Int
    let shipped: Bool
    let enabled: Bool
    /// Whether this organization's admins may enable it.
    let available: Bool
    /// For system administrators: every organization it is available to.
    let availableTo: [UUID]?
}

/// What a notification stream sends: never the audience.
struct NotificationBody: Codable {
    let kind: String
    let runID: String
    let tool: String
    let status: String
    let sessionID: String?
    let detail: String?

    init(_ notification: PortalNotification) {
        kind = notification.kind.rawValue
        runID = notification.runID
        tool = notification.tool
        status = notification.status
        sessionID = notification.sessionID
        detail = notification.detail
    }
}

extension AuditEntry: SchemaComponent {
    static let componentName = "AuditEntry"
}
