import FoundationEssentials
import Hummingbird
import Portal

/// Users, organizations, memberships and API keys. Everything acts in the caller's current
/// organization; naming another organization (one the caller cannot act in) is a 404, the
/// same as naming one that does not exist.
extension PortalRoutes {
    func addAdminRoutes(core: PortalCore) {
        /// The users `principal` may manage: the current organization's members (every user for system administrators).
        @Sendable func manageableUsers(_ principal: Principal) throws -> [User] {
            if principal.user.isAdministrator { return try core.accounts.all() }
            return try core.organizations.members(of: try Self.requireOrganization(principal)).map(\.user)
        }

        get("/api/users", .permission(.usersManage), .doc("listUsers", "The current organization's members (every user for system administrators).", returns: APISchema.list("users", of: UserBody.self))) { _, context in
            try Self.jsonResponse(.ok, ["users": try manageableUsers(context.principal!).map(UserBody.init)])
        }

        get("/api/users/{id}", .permission(.usersManage), .doc("getUser", "One user you may manage.", returns: APISchema.of(UserBody.self))) { _, context in
            let id = context.parameters.get("id").flatMap(UUID.init(uuidString:))
            guard let user = try manageableUsers(context.principal!).first(where: { $0.id == id }) else { throw PortalError.notFound("user") }
            return try Self.jsonResponse(.ok, UserBody(user))
        }

        struct NewUser: Decodable {
            let username: String
            let displayName: String?
            let password: String
            let role: Role?
        }
        post("/api/users", .permission(.usersManage), .doc("createUser", "Creates a user as a member of the current organization.", body: NewUser.self, returns: APISchema.of(UserBody.self), status: 201)) { request, context in
            let principal = context.principal!
            let body = try await Self.decode(NewUser.self, request, context)
            guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
            let user = try await core.organizations.createMember(username: body.username, displayName: body.displayName ?? body.username, password: body.password,
                                                                 role: body.role ?? .viewer, in: organizationID, by: principal)
            var response = try Self.jsonResponse(.created, UserBody(user))
            response.headers[.location] = "/api/users/\(user.id)"
            return response
        }

        // A new one-time password for someone who lost theirs (shown once; see `Passwords.reset`).
        post("/api/users/{id}/password-reset", .permission(.usersManage), .doc("resetPassword", "Gives a user a new one-time password (shown once).", returns: APISchema.strings("oneTimePassword"))) { _, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw PortalError.notFound("user") }
            let password = try await core.passwords.reset(id, by: context.principal!)
            return try Self.jsonResponse(.ok, ["oneTimePassword": password])
        }

        /// The organizations `principal` sees: their own (every one for system administrators), each with their role.
        @Sendable func visibleOrganizations(_ principal: Principal) throws -> [OrganizationBody] {
            let memberships = try core.organizations.memberships(of: principal.user.id)
            let visible = principal.user.isAdministrator ? try core.organizations.all() : memberships.map(\.organization)
            return visible.map { organization in OrganizationBody(organization, role: memberships.first { $0.organization.id == organization.id }?.role) }
        }

        get("/api/orgs", .authenticated, .doc("listOrganizations", "Your organizations (every one for system administrators).", returns: APISchema.list("organizations", of: OrganizationBody.self))) { _, context in
            try Self.jsonResponse(.ok, ["organizations": try visibleOrganizations(context.principal!)])
        }

        get("/api/orgs/{id}", .authenticated, .doc("getOrganization", "One of your organizations (any for system administrators), with its ETag.", returns: APISchema.of(OrganizationBody.self), revision: .tagged)) { _, context in
            let id = context.parameters.get("id").flatMap(UUID.init(uuidString:))
            guard let visible = try visibleOrganizations(context.principal!).first(where: { $0.id == id }),
                  let organization = try core.organizations.organization(visible.id) else { throw PortalError.notFound("organization") }
            return try APIConventions.taggedResponse(visible, version: OrganizationBody(organization, role: nil))
        }

        struct NewOrganization: Decodable {
            let slug: String
            let displayName: String
            let cloudScope: String?
            let cloudProfile: String?
            let settings: [String: String]?
        }
        post("/api/orgs", .systemAdministrator, .doc("createOrganization", "Creates an organization.", body: NewOrganization.self, returns: APISchema.of(OrganizationBody.self), status: 201)) { request, context in
            let principal = context.principal!
            let body = try await Self.decode(NewOrganization.self, request, context)
            let organization = try await core.organizations.create(slug: body.slug, displayName: body.displayName, cloudScope: body.cloudScope ?? "",
                                                                   cloudProfile: body.cloudProfile, settings: body.settings ?? [:], by: principal)
            var response = try Self.jsonResponse(.created, OrganizationBody(organization, role: nil))
            response.headers[.location] = "/api/orgs/\(organization.id)"
            return response
        }

        // Any organization's scope, cloud profile and settings (system administrators only).
        on(.patch, "/api/orgs/{id}", .systemAdministrator, .doc("updateOrganization", "Changes an organization's name, cloud scope, profile or settings.", body: Organizations.Changes.self, returns: APISchema.of(OrganizationBody.self), revision: .conditional)) { request, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw PortalError.notFound("organization") }
            let changes = try await Self.decode(Organizations.Changes.self, request, context)
            let organization = try await core.organizations.update(id, changes, by: context.principal!,
                                                                   precondition: try APIConventions.precondition(request) { OrganizationBody($0, role: nil) })
            return try APIConventions.taggedResponse(OrganizationBody(organization, role: nil))
        }

        // The organization's tool credentials: names only, values never shown again.
        get("/api/orgs/{id}/secrets", .permission(.admin), .doc("listOrganizationSecrets", "The names of the organization's tool credentials (never their values).", returns: .object(["type": .string("object"), "properties": .object(["secrets": .object(["type": .string("array"), "items": .object(["type": .string("string")])])])]))) { _, context in
            let organizationID = try Self.currentOrganization(context)
            return try Self.jsonResponse(.ok, ["secrets": try core.toolSecrets.names(in: organizationID, by: context.principal!)])
        }

        struct SecretValue: Decodable { let value: String }
        on(.put, "/api/orgs/{id}/secrets/{name}", .permission(.admin), .doc("setOrganizationSecret", "Stores a tool credential, sealed.", body: SecretValue.self, status: 204)) { request, context in
            let organizationID = try Self.currentOrganization(context)
            let body = try await Self.decode(SecretValue.self, request, context)
            try await core.toolSecrets.set(context.parameters.get("name") ?? "", to: body.value, in: organizationID, by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        on(.delete, "/api/orgs/{id}/secrets/{name}", .permission(.admin), .doc("deleteOrganizationSecret", "Deletes a tool credential.", status: 204)) { _, context in
            let organizationID = try Self.currentOrganization(context)
            try await core.toolSecrets.delete(context.parameters.get("name") ?? "", in: organizationID, by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        get("/api/orgs/{id}/members", .permission(.usersManage), .doc("listMembers", "The organization's members and their roles.", returns: APISchema.list("members", of: MemberBody.self))) { _, context in
            let organizationID = try Self.currentOrganization(context)
            let members = try core.organizations.members(of: organizationID)
            return try Self.jsonResponse(.ok, ["members": members.map { MemberBody(user: UserBody($0.user), role: $0.role.rawValue) }])
        }

        struct NewMember: Decodable {
            let username: String
            let role: Role?
        }
        // Sets a member's role, or (role null) removes them. Adding someone who is not yet a
        // member is for system administrators (`Organizations.checkMayGrant`); to anyone else
        // a non-member is a 404, like a name that does not exist.
        post("/api/orgs/{id}/members", .permission(.usersManage), .doc("setMemberRole", "Sets a member's role, or removes them (role null).", body: NewMember.self, status: 204)) { request, context in
            let organizationID = try Self.currentOrganization(context)
            let principal = context.principal!
            let body = try await Self.decode(NewMember.self, request, context)
            guard let user = try core.accounts.user(named: body.username) else { throw PortalError.notFound("member") }
            try await core.organizations.setRole(body.role, user: user.id, in: organizationID, by: principal)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        // Your own keys; every key of the organization with users:manage.
        get("/api/keys", .permission(.keysManage), .doc("listAPIKeys", "Your API keys (every key of the organization with users:manage).", returns: APISchema.list("keys", of: KeyBody.self))) { _, context in
            _ = try Self.currentOrganization(context, path: false)
            return try Self.jsonResponse(.ok, ["keys": try core.apiKeys.list(for: context.principal!).map(KeyBody.init)])
        }

        get("/api/keys/{id}", .permission(.keysManage), .doc("getAPIKey", "One API key you may see (never its secret).", returns: APISchema.of(KeyBody.self))) { _, context in
            _ = try Self.currentOrganization(context, path: false)
            let id = context.parameters.get("id").flatMap(UUID.init(uuidString:))
            guard let key = try core.apiKeys.list(for: context.principal!).first(where: { $0.id == id }) else { throw PortalError.notFound("API key") }
            return try Self.jsonResponse(.ok, KeyBody(key))
        }

        struct NewKey: Decodable {
            let name: String
            let role: Role
            let expiresAt: Date?
        }
        post("/api/keys", .permission(.keysManage), .doc("createAPIKey", "Creates an API key; its secret is shown once.", body: NewKey.self, returns: APISchema.of(CreatedKeyBody.self), status: 201, created: .init(idPointer: "/key/id"))) { request, context in
            let body = try await Self.decode(NewKey.self, request, context)
            let created = try await core.apiKeys.create(by: context.principal!, name: body.name, role: body.role, expiresAt: body.expiresAt)
            var response = try Self.jsonResponse(.created, CreatedKeyBody(key: KeyBody(created.key), secret: created.secret))
            response.headers[.location] = "/api/keys/\(created.key.id)"
            return response
        }

        on(.delete, "/api/keys/{id}", .permission(.keysManage), .doc("revokeAPIKey", "Revokes an API key at once.", status: 204)) { _, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw PortalError.notFound("API key") }
            try await core.apiKeys.revoke(id, by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }
    }

    /// The organization a request acts in; with `path`, the `{id}` in the path must be it.
    static func currentOrganization(_ context: PortalContext, path: Bool = true) throws -> UUID {
        guard let current = context.principal?.organizationID else { throw PortalError.invalid("choose an organization first") }
        if path {
            guard context.parameters.get("id").flatMap(UUID.init(uuidString:)) == current else { throw PortalError.notFound("organization") }
        }
        return current
    }
}

struct OrganizationBody: Codable, SchemaComponent {
    static let componentName = "Organization"
    let id: UUID
    let slug: String
    let displayName: String
    let cloudScope: String
    let cloudProfile: String?
    let settings: [String: String]
    let role: String?

    init(_ organization: Organization, role: Role?) {
        id = organization.id
        slug = organization.slug
        displayName = organization.displayName
        cloudScope = organization.cloudScope
        cloudProfile = organization.cloudProfile
        settings = organization.settings
        self.role = role?.rawValue
    }
}

struct MemberBody: Codable {
    let user: UserBody
    let role: String
}

/// An API key as listed: never its secret or hash.
struct KeyBody: Codable, SchemaComponent {
    static let componentName = "APIKey"
    let id: UUID
    let name: String
    let createdBy: UUID
    let prefix: String
    let role: String
    let createdAt: Date
    let expiresAt: Date?
    let lastUsedAt: Date?
    let revokedAt: Date?

    init(_ key: APIKey) {
        id = key.id
        name = key.name
        createdBy = key.createdBy
        prefix = key.prefix
        role = key.role.rawValue
        createdAt = key.createdAt
        expiresAt = key.expiresAt
        lastUsedAt = key.lastUsedAt
        revokedAt = key.revokedAt
    }
}

struct CreatedKeyBody: Codable {
    let key: KeyBody
    /// Shown once: only its hash is stored.
    let secret: String
}
