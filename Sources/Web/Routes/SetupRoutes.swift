import FoundationEssentials
import Hummingbird
import Portal

/// One step of setting up a new portal, ticked from the server's real state.
struct SetupItem: Codable {
    let id: String
    let title: String
    let detail: String
    let done: Bool
    /// The client route where it is done; `nil` when only a system administrator may do it.
    let href: String?
}

extension PortalRoutes {
    /// `GET /api/setup`: the administrators' first-run checklist for the current organization.
    func addSetupRoutes(core: PortalCore) {
        get("/api/setup", .permission(.admin), .doc("getSetupChecklist", "What is left to set up: the one-time password, a tool pack, people or single sign-on, a language model, an API key; each ticked from the portal's state.", returns: APISchema.list("items", of: SetupItem.self), webOnly: true)) { _, context in
            let principal = context.principal!
            let organizationID = try Self.requireOrganization(principal)
            let systemAdministrator = principal.user.isAdministrator
            let members = try core.organizations.members(of: organizationID)
            // This organization's admins and the system administrators.
            let administrators = try core.accounts.all().filter(\.isAdministrator) + members.filter { $0.role == .admin }.map(\.user)
            let singleSignOn = try core.singleSignOn.settings()?.enabled == true
            let items = [
                // Done when no administrator still signs in with a one-time password (the
                // first one printed in the terminal, or one an administrator reset).
                SetupItem(id: "password", title: "Replace the one-time passwords",
                          detail: "The first administrator's password was printed in the terminal; every administrator chooses their own.",
                          done: !administrators.contains { $0.mustChangePassword }, href: "#/admin/users"),
                SetupItem(id: "packs", title: "Enable a tool pack",
                          detail: "Tools come in packs; enable the ones this organization uses so people can run them.",
                          done: !(try core.tools.enabledPacks(in: organizationID)).isEmpty, href: "#/admin/packs"),
                SetupItem(id: "people", title: "Invite people or set up single sign-on",
                          detail: "Create accounts with a role, or let your identity provider sign people in.",
                          done: members.count > 1 || singleSignOn, href: "#/admin/users"),
                SetupItem(id: "model", title: "Connect a language model",
                          detail: systemAdministrator ? "Any OpenAI-compatible endpoint makes the assistant answer in words; without one it suggests tools."
                                                      : "A system administrator connects an OpenAI-compatible endpoint for the whole portal.",
                          done: try core.assistant.modelName() != nil, href: systemAdministrator ? "#/admin/assistant" : nil),
                SetupItem(id: "api-key", title: "Create an API key",
                          detail: "Scripts and other systems call the portal's API with a key and a role.",
                          done: !(try core.apiKeys.list(for: principal)).isEmpty, href: "#/admin/keys"),
            ]
            return try Self.jsonResponse(.ok, ["items": items])
        }
    }
}
