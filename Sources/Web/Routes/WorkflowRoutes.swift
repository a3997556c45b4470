import FoundationEssentials
import Hummingbird
import KV
import Portal

/// A version to save: the definition, a note, and the version the editor started from.
struct WorkflowSaveBody: Codable {
    let definition: WorkflowDefinition
    let note: String?
    /// The version the change is based on (0: a new workflow); another saved meanwhile is 409.
    let baseVersion: Int?
}

struct WorkflowVersionInfo: Codable {
    let version: Int
    let savedByName: String
    let savedAt: Date
    let note: String

    init(_ version: WorkflowVersion) {
        self.version = version.version
        savedByName = version.savedByName
        savedAt = version.savedAt
        note = version.note
    }
}

/// A workflow with its latest definition and its versions, newest first.
struct WorkflowDetail: Codable {
    let workflow: WorkflowSummary
    let definition: WorkflowDefinition
    let versions: [WorkflowVersionInfo]
}

struct WorkflowStartBody: Codable {
    let inputs: JSONAny?
    /// A saved version to run; the latest when absent.
    let version: Int?
}

struct WorkflowRerunBody: Codable {
    enum Version: String, Codable, CaseIterable {
        /// The run's own version.
        case same
        case latest
    }

    /// The step to start from.
    let from: String
    /// `same` when absent.
    let version: Version?
}

struct WorkflowDecisionBody: Codable {
    let approve: Bool
    let comment: String?
}

struct WorkflowCancelBody: Codable {
    let reason: String?
}

/// A run with its history.
struct WorkflowRunDetail: Codable {
    let run: WorkflowRun
    let log: [WorkflowLogEntry]
}

/// A workflow's incoming webhook; `secret` only in the answer that made or rotated it.
struct WorkflowWebhookBody: Codable {
    let webhook: WorkflowWebhook
    /// Where to send deliveries, on this portal's address.
    let path: String
    /// `whsec_…` (Standard Webhooks): shown once.
    let secret: String?
}

/// What a delivery to a workflow's webhook came to: only the run's id and status (the caller
/// is no principal of the portal, so it reads nothing more of the run).
struct WorkflowHookAnswer: Codable {
    /// A run started for this delivery now.
    let started: Bool
    /// The message id was delivered before: `runID` is the run that delivery started.
    let repeated: Bool
    let runID: String?
    let status: WorkflowRun.Status?

    init(started: Bool, repeated: Bool, run: WorkflowRun?) {
        self.started = started
        self.repeated = repeated
        runID = run?.id.description
        status = run?.status
    }
}

struct WorkflowRunPage: Codable {
    let runs: [WorkflowRun]
    let next: String?
    let limit: Int
}

extension PortalRoutes {
    /// Workflows: definitions and versions (workflows:manage to save), runs (tools:run to
    /// start; the starter or workflows:manage to change one), approvals of their steps.
    func addWorkflowRoutes(core: PortalCore) {
        let workflows = core.workflows

        @Sendable func name(_ context: PortalContext) throws -> (String, UUID) {
            let organizationID = try Self.requireOrganization(context.principal!)
            let name = context.parameters.get("name") ?? ""
            guard try workflows.summary(name, in: organizationID) != nil else { throw PortalError.notFound("workflow '\(name.prefix(64))'") }
            return (name, organizationID)
        }
        @Sendable func runID(_ context: PortalContext) throws -> (TimeOrderedID, UUID) {
            let organizationID = try Self.requireOrganization(context.principal!)
            let id = try Self.pathID(context, "workflow run")
            guard try workflows.run(id, in: organizationID) != nil else { throw PortalError.notFound("workflow run \(id)") }
            return (id, organizationID)
        }
        @Sendable func detail(_ id: TimeOrderedID, _ organizationID: UUID) throws -> WorkflowRunDetail {
            guard let run = try workflows.run(id, in: organizationID) else { throw PortalError.notFound("workflow run \(id)") }
            return WorkflowRunDetail(run: run, log: try workflows.log(of: id))
        }
        @Sendable func version(_ text: String?, _ field: String) throws -> Int? {
            guard let text else { return nil }
            guard let number = Int(text), number > 0 else { throw ProblemDetails(.badRequest, detail: "\(field) must be a version number (1 or more).") }
            return number
        }

        get("/api/workflows", .permission(.toolsRead), .doc("listWorkflows", "The organization's workflows.", returns: APISchema.list("workflows", of: WorkflowSummary.self))) { _, context in
            try Self.jsonResponse(.ok, ["workflows": try workflows.list(in: try Self.requireOrganization(context.principal!))])
        }

        get("/api/workflows/schema", .permission(.toolsRead), .doc("getWorkflowSchema", "The JSON Schema (2020-12) of a workflow definition, with each step type's settings.")) { _, _ in
            try Self.jsonResponse(.ok, WorkflowLibrary.schema)
        }

        get("/api/workflows/templates", .permission(.toolsRead), .doc("listWorkflowTemplates", "Ready-made workflows for the shipped packs.", returns: APISchema.list("templates", of: WorkflowLibrary.Template.self))) { _, _ in
            try Self.jsonResponse(.ok, ["templates": WorkflowLibrary.templates])
        }

        post("/api/workflows/{name}/versions", .permission(.workflowsManage), .doc("saveWorkflowVersion", "Saves a new version (the first creates the workflow). A definition that parses but breaks the rules of workflows (GET /api/workflows/schema, plus one first step, no cycles, ports that exist, expressions reading only earlier steps) is 422 with every problem listed by field.", body: WorkflowSaveBody.self, returns: APISchema.of(WorkflowDetail.self), status: 201, created: .init(path: "/api/workflows/{id}", idPointer: "/workflow/name"))) { request, context in
            let body = try await Self.decode(WorkflowSaveBody.self, request, context)
            let name = context.parameters.get("name") ?? ""
            guard body.definition.name == name else { throw PortalError.unprocessable("the definition's name is '\(body.definition.name.prefix(64))', not '\(name.prefix(64))'") }
            let saved: WorkflowVersion
            do {
                saved = try await workflows.save(body.definition, note: body.note ?? "", basedOn: body.baseVersion, by: context.principal!)
            } catch let PortalError.invalidInput(problems) {
                // It parsed: what is wrong is what it says, field by field.
                throw ProblemDetails(.unprocessableContent, title: "Invalid workflow", detail: problems.description,
                                     fieldErrors: problems.problems.map { .init(field: $0.field, message: $0.message) })
            }
            let organizationID = try Self.requireOrganization(context.principal!)
            var response = try Self.jsonResponse(.created, WorkflowDetail(workflow: try workflows.summary(name, in: organizationID)!, definition: saved.definition,
                                                                         versions: try workflows.versions(name, in: organizationID).map(WorkflowVersionInfo.init)))
            response.headers[.location] = "/api/workflows/\(name)"
            return response
        }

        get("/api/workflows/{name}", .permission(.toolsRead), .doc("getWorkflow", "A workflow: its latest definition and its versions.", returns: APISchema.of(WorkflowDetail.self))) { _, context in
            let (name, organizationID) = try name(context)
            guard let summary = try workflows.summary(name, in: organizationID), let latest = try workflows.version(name, in: organizationID) else {
                throw PortalError.notFound("workflow '\(name)'")
            }
            return try Self.jsonResponse(.ok, WorkflowDetail(workflow: summary, definition: latest.definition,
                                                             versions: try workflows.versions(name, in: organizationID).map(WorkflowVersionInfo.init)))
        }

        get("/api/workflows/{name}/versions/{version}", .permission(.toolsRead), .doc("getWorkflowVersion", "One saved version.", returns: APISchema.of(WorkflowVersion.self))) { _, context in
            let (name, organizationID) = try name(context)
            guard let number = Int(context.parameters.get("version") ?? ""), let saved = try workflows.version(name, number, in: organizationID) else {
                throw PortalError.notFound("version of '\(name)'")
            }
            return try Self.jsonResponse(.ok, saved)
        }

        get("/api/workflows/{name}/diff", .permission(.toolsRead), .doc("diffWorkflowVersions", "What changed between two versions (steps, edges, fields).", returns: APISchema.of(WorkflowDiff.self), query: [.integer("from", "The older version.", minimum: 1, maximum: 1_000_000), .integer("to", "The newer version (the latest when absent).", minimum: 1, maximum: 1_000_000)])) { request, context in
            let (name, organizationID) = try name(context)
            let query = request.uri.queryParameters
            guard let from = try version(query.get("from"), "from") else { throw ProblemDetails(.badRequest, detail: "from is required.") }
            guard let old = try workflows.version(name, from, in: organizationID), let new = try workflows.version(name, try version(query.get("to"), "to"), in: organizationID) else {
                throw PortalError.notFound("version of '\(name)'")
            }
            return try Self.jsonResponse(.ok, WorkflowDiff(from: old, to: new))
        }

        get("/api/workflows/{name}/export", .permission(.toolsRead), .doc("exportWorkflow", "The latest (or `version`) definition as a file to import elsewhere.", returns: APISchema.of(WorkflowDefinition.self), query: [.integer("version", "A saved version.", minimum: 1, maximum: 1_000_000)])) { request, context in
            let (name, organizationID) = try name(context)
            guard let saved = try workflows.version(name, try version(request.uri.queryParameters.get("version"), "version"), in: organizationID) else {
                throw PortalError.notFound("version of '\(name)'")
            }
            var response = try Self.jsonResponse(.ok, saved.definition)
            response.headers[.contentDisposition] = "attachment; filename=\"\(name)-v\(saved.version).workflow.json\""
            return response
        }

        get("/api/workflows/{name}/webhook", .permission(.workflowsManage), .doc("getWorkflowWebhook", "The workflow's incoming webhook (404 when it has none); never its secret.", returns: APISchema.of(WorkflowWebhookBody.self))) { _, context in
            let (name, organizationID) = try name(context)
            guard let hook = try workflows.webhook(of: name, in: organizationID) else { throw PortalError.notFound("webhook of workflow '\(name)'") }
            return try Self.jsonResponse(.ok, WorkflowWebhookBody(webhook: hook, path: hook.path, secret: nil))
        }

        on(.put, "/api/workflows/{name}/webhook", .permission(.workflowsManage), .doc("setUpWorkflowWebhook", "Makes the workflow's incoming webhook (201) or gives it a new secret (200; the previous one verifies for 24 hours more). The answer holds the secret, shown this once. Deliveries start runs while the latest version has a webhook trigger.", returns: APISchema.of(WorkflowWebhookBody.self), responses: [ResponseSpec(201, "Made.", schema: APISchema.of(WorkflowWebhookBody.self)), ResponseSpec(200, "Secret rotated.", schema: APISchema.of(WorkflowWebhookBody.self))])) { _, context in
            let (name, _) = try name(context)
            let made = try await workflows.setUpWebhook(of: name, by: context.principal!)
            return try Self.jsonResponse(made.created ? .created : .ok, WorkflowWebhookBody(webhook: made.webhook, path: made.webhook.path, secret: made.secret))
        }

        on(.delete, "/api/workflows/{name}/webhook", .permission(.workflowsManage), .doc("removeWorkflowWebhook", "Removes the workflow's incoming webhook and its secrets.", status: 204)) { _, context in
            try await workflows.removeWebhook(of: try name(context).0, by: context.principal!)
            return Response(status: .noContent)
        }

        post("/api/hooks/workflows/{id}", .public, RouteDoc("deliverWorkflowWebhook", "Starts a run of the workflow whose webhook this is. Signed as Standard Webhooks sign: headers webhook-id, webhook-timestamp (within 5 minutes) and webhook-signature (v1, HMAC-SHA256 of id.timestamp.body under the webhook's secret); 401 otherwise. The body is JSON (256 KB at most), read by the trigger's condition and inputs as `body`. A webhook-id delivered again answers 200 with the run it started, never a second run; 200 with no run when the trigger's condition does not hold.", body: .object(["type": .string("object")]), returns: APISchema.of(WorkflowHookAnswer.self), rate: .limited(.toolRun), responses: [ResponseSpec(202, "A run started.", schema: APISchema.of(WorkflowHookAnswer.self)), ResponseSpec(200, "Delivered before, or the condition does not hold: nothing started.", schema: APISchema.of(WorkflowHookAnswer.self))], maxBodyBytes: Workflows.webhookBodyLimit)) { request, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw PortalError.notFound("webhook") }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: Workflows.webhookBodyLimit) } catch { throw RequestBodyRules.tooLarge(Workflows.webhookBodyLimit) }
            let headers = request.headers
            let outcome: Workflows.WebhookOutcome
            do {
                outcome = try await workflows.deliver(toWebhook: id, messageID: headers[.webhookID], timestamp: headers[.webhookTimestamp], signature: headers[.webhookSignature],
                                                      body: Array(body.readableBytesView))
            } catch let refused as WebhookVerificationFailed {
                throw ProblemDetails(.unauthorized, detail: refused.reason.prefix(1).uppercased() + refused.reason.dropFirst() + ".")
            }
            switch outcome {
            case let .started(run):
                var response = try Self.jsonResponse(.accepted, WorkflowHookAnswer(started: true, repeated: false, run: run))
                response.headers[.location] = "/api/workflow-runs/\(run.id)"
                return response
            case let .repeated(run): return try Self.jsonResponse(.ok, WorkflowHookAnswer(started: false, repeated: true, run: run))
            case .ignored: return try Self.jsonResponse(.ok, WorkflowHookAnswer(started: false, repeated: false, run: nil))
            }
        }

        on(.delete, "/api/workflows/{name}", .permission(.workflowsManage), .doc("deleteWorkflow", "Deletes a workflow and its versions (409 while it has unfinished runs).", status: 204)) { _, context in
            try await workflows.delete(try name(context).0, by: context.principal!)
            return Response(status: .noContent)
        }

        post("/api/workflows/{name}/runs", .permission(.toolsRun), .doc("startWorkflowRun", "Starts a run of the latest (or a given) version with inputs checked against its schema.", body: WorkflowStartBody.self, returns: APISchema.of(WorkflowRunDetail.self), status: 201, rate: .limited(.toolRun), created: .init(path: "/api/workflow-runs/{id}", idPointer: "/run/id"))) { request, context in
            let body = try await Self.decode(WorkflowStartBody.self, request, context)
            let (name, organizationID) = try name(context)
            let principal = context.principal!
            let run = try await workflows.start(name, version: body.version, inputs: body.inputs ?? .object([:]), by: principal, trigger: principal.apiKeyID == nil ? .manual : .api)
            var response = try Self.jsonResponse(.created, try detail(run.id, organizationID))
            response.headers[.location] = "/api/workflow-runs/\(run.id)"
            return response
        }

        get("/api/workflow-runs", .permission(.toolsRead), .doc("listWorkflowRuns", "Workflow runs, newest first, filtered.", returns: APISchema.of(WorkflowRunPage.self), query: QueryParameter.paging + [.string("workflow", "Only this workflow's runs."), .string("person", "Only runs this person started."), .choice("status", WorkflowRun.Status.allCases.map(\.rawValue), "Only runs with this status.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            let query = request.uri.queryParameters
            var filter = Workflows.RunFilter(workflow: query.get("workflow"), starter: query.get("person"))
            if let status = query.get("status") {
                guard let parsed = WorkflowRun.Status(rawValue: status) else {
                    throw ProblemDetails(.badRequest, detail: "status must be one of \(WorkflowRun.Status.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                filter.status = parsed
            }
            let limit = try APIConventions.pageSize(request)
            let page = try workflows.runs(in: organizationID, filter: filter, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: page.count == limit ? page.last?.id.description : nil)
            return try APIConventions.pageResponse(WorkflowRunPage(runs: page, next: next, limit: limit), next: next)
        }

        get("/api/workflow-runs/{id}", .permission(.toolsRead), .doc("getWorkflowRun", "A run: each step's state, input, output, attempts and timing, and its history; with wait, answers once it has ended (or needs attention) or after that many seconds.", returns: APISchema.of(WorkflowRunDetail.self), query: [.integer("wait", "Seconds to wait for the run to end (0–30).", minimum: 0, maximum: 30)])) { request, context in
            let (id, organizationID) = try runID(context)
            let wait = request.uri.queryParameters.get("wait").flatMap(Int.init).map { min(max($0, 0), 30) } ?? 0
            if wait > 0 { _ = try await workflows.waitUntilSettled(id, in: organizationID, timeout: .seconds(wait)) }
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }

        post("/api/workflow-runs/{id}/cancel", .permission(.toolsRead), .doc("cancelWorkflowRun", "Cancels an unfinished run and its child runs (its starter, or workflows:manage).", body: WorkflowCancelBody.self, returns: APISchema.of(WorkflowRunDetail.self))) { request, context in
            let body = try await Self.decode(WorkflowCancelBody.self, request, context)
            let (id, organizationID) = try runID(context)
            try await workflows.cancel(id, in: organizationID, reason: body.reason ?? "", by: context.principal!)
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }

        post("/api/workflow-runs/{id}/pause", .permission(.toolsRead), .doc("pauseWorkflowRun", "Starts no further step until resumed (steps under way finish).", returns: APISchema.of(WorkflowRunDetail.self))) { _, context in
            let (id, organizationID) = try runID(context)
            try await workflows.pause(id, in: organizationID, by: context.principal!)
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }

        post("/api/workflow-runs/{id}/resume", .permission(.toolsRead), .doc("resumeWorkflowRun", "Goes on with a paused run.", returns: APISchema.of(WorkflowRunDetail.self))) { _, context in
            let (id, organizationID) = try runID(context)
            try await workflows.resume(id, in: organizationID, by: context.principal!)
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }

        post("/api/workflow-runs/{id}/retry", .permission(.toolsRead), .doc("retryWorkflowRun", "Goes on with a failed run (or one that needs attention) from the step that failed.", returns: APISchema.of(WorkflowRunDetail.self))) { _, context in
            let (id, organizationID) = try runID(context)
            try await workflows.retry(id, in: organizationID, by: context.principal!)
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }

        post("/api/workflow-runs/{id}/rerun", .permission(.toolsRun), .doc("rerunWorkflowRun", "A new run from a chosen step, on the run's version or the latest; the steps before it keep their results.", body: WorkflowRerunBody.self, returns: APISchema.of(WorkflowRunDetail.self), status: 201, created: .init(path: "/api/workflow-runs/{id}", idPointer: "/run/id"))) { request, context in
            let body = try await Self.decode(WorkflowRerunBody.self, request, context)
            let (id, organizationID) = try runID(context)
            let run = try await workflows.rerun(id, from: body.from, onLatestVersion: body.version == .latest, in: organizationID, by: context.principal!)
            var response = try Self.jsonResponse(.created, try detail(run.id, organizationID))
            response.headers[.location] = "/api/workflow-runs/\(run.id)"
            return response
        }

        post("/api/workflow-runs/{id}/steps/{node}/decision", .permission(.toolsRead), .doc("decideWorkflowApproval", "Approves or rejects a run's approval step (as its approver rule allows).", body: WorkflowDecisionBody.self, returns: APISchema.of(WorkflowRunDetail.self))) { request, context in
            let body = try await Self.decode(WorkflowDecisionBody.self, request, context)
            let (id, organizationID) = try runID(context)
            try await workflows.decide(id, node: context.parameters.get("node") ?? "", approve: body.approve, comment: body.comment ?? "", in: organizationID, by: context.principal!)
            return try Self.jsonResponse(.ok, try detail(id, organizationID))
        }
    }
}

extension WorkflowDefinition: SchemaComponent { static var componentName: String { "WorkflowDefinition" } }
extension WorkflowRun: SchemaComponent { static var componentName: String { "WorkflowRun" } }
extension WorkflowLogEntry: SchemaComponent { static var componentName: String { "WorkflowLogEntry" } }
extension WorkflowSummary: SchemaComponent { static var componentName: String { "WorkflowSummary" } }
extension WorkflowRunDetail: SchemaComponent { static var componentName: String { "WorkflowRunDetail" } }
extension WorkflowDetail: SchemaComponent { static var componentName: String { "WorkflowDetail" } }
