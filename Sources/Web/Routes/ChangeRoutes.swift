import FoundationEssentials
import Hummingbird
import KV
import Portal

/// A change, and the other changes whose held windows overlap its own on the same items.
struct ChangeView: Codable {
    let change: Change
    let conflicts: [String]
}

struct ChangePage: Codable {
    let changes: [Change]
    let next: String?
    let limit: Int
}

struct ChangeDecisionBody: Codable {
    let approve: Bool
    /// Why; required for a rejection.
    let comment: String?
}

extension PortalRoutes {
    /// Changes (incidents:report to read and, for CAB members, to decide; changes:request to
    /// open and move), the change settings and templates (itsm:manage to change).
    func addChangeRoutes(core: PortalCore) {
        let changes = core.changes

        @Sendable func changeID(_ context: PortalContext) throws -> TimeOrderedID {
            let organizationID = try Self.requireOrganization(context.principal!)
            let id = try Self.pathID(context, "change")
            guard try changes.change(id, in: organizationID) != nil else { throw PortalError.notFound("change") }
            return id
        }
        @Sendable func view(_ change: Change) throws -> ChangeView { ChangeView(change: change, conflicts: try changes.conflicts(of: change)) }

        get("/api/change-approvals", .permission(.incidentsReport), .doc("listChangeApprovals", "The changes waiting for the caller's CAB decision (in authorize, on a CAB the caller is on, not their own, not yet decided by them), oldest first; each is decided with POST /changes/{id}/decision.", returns: APISchema.list("changes", of: Change.self))) { _, context in
            _ = try Self.requireOrganization(context.principal!)
            return try Self.jsonResponse(.ok, ["changes": try changes.awaitingDecision(by: context.principal!)])
        }

        get("/api/changes", .permission(.incidentsReport), .doc("listChanges", "The organization's changes, newest first.", returns: APISchema.of(ChangePage.self), query: QueryParameter.paging + [.choice("state", ChangeState.allCases.map(\.rawValue), "Only changes in this state.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            var state: ChangeState?
            if let text = request.uri.queryParameters.get("state") {
                guard let parsed = ChangeState(rawValue: String(text)) else {
                    throw ProblemDetails(.badRequest, detail: "state must be one of \(ChangeState.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                state = parsed
            }
            let limit = try APIConventions.pageSize(request)
            let page = try changes.list(in: organizationID, state: state, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: page.count == limit ? page.last?.id.description : nil)
            return try APIConventions.pageResponse(ChangePage(changes: page, next: next, limit: limit), next: next)
        }

        post("/api/changes", .permission(.changesRequest), .doc("openChange", "Opens a change: standard (from a pre-approved template, no CAB), normal (assess, then the CAB authorizes) or emergency (the emergency CAB authorizes without assessment). Its items must be in the CMDB.", body: ChangeDraft.self, returns: APISchema.of(ChangeView.self), status: 201, created: .init(path: "/api/changes/{id}", idPointer: "/change/id"))) { request, context in
            let draft = try await Self.decode(ChangeDraft.self, request, context)
            let change = try await semantic { try await changes.open(draft, by: context.principal!) }
            var response = try Self.jsonResponse(.created, try view(change))
            response.headers[.location] = "/api/changes/\(change.id)"
            return response
        }

        get("/api/changes/{id}", .permission(.incidentsReport), .doc("getChange", "A change, with the changes whose windows overlap its own on the same items.", returns: APISchema.of(ChangeView.self))) { _, context in
            let id = try changeID(context)
            guard let change = try changes.change(id, in: try Self.requireOrganization(context.principal!)) else { throw PortalError.notFound("change") }
            return try Self.jsonResponse(.ok, try view(change))
        }

        on(.patch, "/api/changes/{id}", .permission(.changesRequest), .doc("updateChange", "Changes a change's fields while it is new or in assess (absent ones stay).", body: ChangeUpdate.self, returns: APISchema.of(ChangeView.self))) { request, context in
            let body = try await Self.decode(ChangeUpdate.self, request, context)
            let id = try changeID(context)
            return try Self.jsonResponse(.ok, try view(try await semantic { try await changes.update(id, body, by: context.principal!) }))
        }

        post("/api/changes/{id}/state", .permission(.changesRequest), .doc("moveChange", "Moves a change along its type's path: standard new → scheduled; normal new → assess → authorize; emergency new → authorize; then scheduled → implement → review → closed; cancelled from any open state. Leaving authorize is the CAB's. A move that holds the window (authorize, a standard change's scheduled) is 409 when it overlaps another change on the same items or, but for emergencies, a freeze. Implement starts the implementation workflow; review needs the outcome; closed needs the review notes.", body: ChangeMove.self, returns: APISchema.of(ChangeView.self))) { request, context in
            let body = try await Self.decode(ChangeMove.self, request, context)
            let id = try changeID(context)
            return try Self.jsonResponse(.ok, try view(try await semantic { try await changes.move(id, body, by: context.principal!) }))
        }

        post("/api/changes/{id}/decision", .permission(.incidentsReport), .doc("decideChange", "A CAB member approves or rejects a change waiting for authorization (403 for anyone not on its CAB, and for its requester). Once the CAB's policy is met (all of the named approvers, any one, or enough members with the role) it is scheduled; a rejection, which says why, sends it back to assess.", body: ChangeDecisionBody.self, returns: APISchema.of(ChangeView.self))) { request, context in
            let body = try await Self.decode(ChangeDecisionBody.self, request, context)
            let id = try changeID(context)
            return try Self.jsonResponse(.ok, try view(try await semantic { try await changes.decide(id, approve: body.approve, comment: body.comment ?? "", by: context.principal!) }))
        }

        get("/api/change-settings", .permission(.incidentsReport), .doc("getChangeSettings", "The organization's normal and emergency CABs and its freeze windows.", returns: APISchema.of(ChangeSettings.self))) { _, context in
            try Self.jsonResponse(.ok, try changes.settings(in: try Self.requireOrganization(context.principal!)))
        }

        on(.put, "/api/change-settings", .permission(.itsmManage), .doc("setChangeSettings", "Sets the normal and emergency CABs (named approvers, all of them or any one; or a role and how many of its members) and the freeze windows.", body: ChangeSettings.self, returns: APISchema.of(ChangeSettings.self))) { request, context in
            let body = try await Self.decode(ChangeSettings.self, request, context)
            try await semantic { try await changes.saveSettings(body, by: context.principal!) }
            return try Self.jsonResponse(.ok, body)
        }

        get("/api/change-templates", .permission(.incidentsReport), .doc("listChangeTemplates", "The pre-approved templates standard changes follow.", returns: APISchema.list("templates", of: ChangeTemplate.self))) { _, context in
            try Self.jsonResponse(.ok, ["templates": try changes.templates(in: try Self.requireOrganization(context.principal!))])
        }

        on(.put, "/api/change-templates/{name}", .permission(.itsmManage), .doc("saveChangeTemplate", "Saves a pre-approved template: its title, description, implementation workflow and backout plan.", body: ChangeTemplate.self, returns: APISchema.of(ChangeTemplate.self))) { request, context in
            let body = try await Self.decode(ChangeTemplate.self, request, context)
            guard body.name == context.parameters.get("name") else { throw PortalError.unprocessable("the template's name is '\(body.name.prefix(64))', not the one in the path") }
            try await semantic { try await changes.saveTemplate(body, by: context.principal!) }
            return try Self.jsonResponse(.ok, body)
        }
    }
}
