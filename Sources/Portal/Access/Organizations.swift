public import FoundationEssentials
import KV

/// A tenant of the portal. Its `cloudScope` (an OCI compartment OCID, say), `cloudProfile`
/// and `settings` are what tool templates may read about the caller's organization.
public struct Organization: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: UUID
    /// Unique, URL-safe: 1–64 lowercase letters, digits and `-`.
    public var slug: String
    public var displayName: String
    public var cloudScope: String
    public var settings: [String: String]
    public let createdAt: Date
    /// The cloud identity the organization's cloud tools act as — a profile of the OCI CLI's
    /// configuration whose IAM policy reaches only this organization's compartments. Unique:
    /// two organizations never share one. `nil` until a system administrator sets it; cloud
    /// tools refuse to run without it.
    public var cloudProfile: String? = nil
}

/// A user's role in one organization.
public struct Membership: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let userID: UUID
    public let organizationID: UUID
    public var role: Role
    /// Who gave the current role, and when (`nil`: the portal itself — first start, single
    /// sign-on groups — or a membership older than this field). The two-person rule reads them.
    public var grantedBy: UUID? = nil
    public var grantedAt: Date? = nil
}

/// Organizations and memberships in KV. Guarantees: slugs are unique (a unique index, so two
/// concurrent creations cannot both succeed); a membership names an existing user and
/// organization; each user has at most one role per organization.
public final class Organizations: Sendable {
    let environment: Environment
    let organizations: IndexedTable<Key<UUID>, JSONValue<Organization>>
    let bySlug: IndexHandle<StringKey, Key<UUID>>
    /// (user, organization) → membership.
    let memberships: Table<CompositeKey<UUID, UUID>, JSONValue<Membership>>
    let users: Accounts
    let events: SecurityEvents
    let clock: any WallClock

    init(environment: Environment, users: Accounts, events: SecurityEvents, clock: any WallClock) throws {
        self.environment = environment
        self.users = users
        self.events = events
        self.clock = clock
        organizations = try environment.indexedTable("organizations", key: Key<UUID>.self, value: JSONValue<Organization>.self, indexes: [
            .unique("slug", StringKey.self) { $0.slug },
        ])
        bySlug = organizations.index("slug", StringKey.self)
        memberships = try environment.table("memberships", key: CompositeKey<UUID, UUID>.self, value: JSONValue<Membership>.self)
    }

    static func isValidSlug(_ slug: String) -> Bool {
        (1...64).contains(slug.count) && slug.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }

    /// Creates an organization; throws `PortalError.invalid` for a bad slug and
    /// `PortalError.conflict` when the slug is taken. `by` names who did it, for the security
    /// event, which is written in the same transaction.
    public func create(slug: String, displayName: String, cloudScope: String = "", cloudProfile: String? = nil, settings: [String: String] = [:],
                       by actor: Principal? = nil) async throws -> Organization {
        guard Self.isValidSlug(slug) else { throw PortalError.invalid("slug must be 1–64 lowercase letters, digits or '-'") }
        let organization = Organization(id: UUID(), slug: slug, displayName: displayName, cloudScope: cloudScope, settings: settings, createdAt: clock.now(),
                                        cloudProfile: try Self.checkedProfile(cloudProfile))
        let event = SecurityEvent(kind: .organizationCreated, userID: actor?.user.id, username: actor?.user.username, organizationID: organization.id, detail: slug)
        do {
            try await environment.write { [self] txn in
                try checkProfileIsFree(organization, txn: txn)
                try txn.put(organizations, organization.id, organization)
                try events.record(event, in: txn)
            }
        } catch KVError.uniqueViolation {
            throw PortalError.conflict("an organization with slug '\(slug)' exists")
        }
        return organization
    }

    /// What a system administrator may change about an organization; `nil` keeps a value.
    public struct Changes: Sendable, Decodable {
        public var displayName: String?
        public var cloudScope: String?
        /// `""` removes the profile.
        public var cloudProfile: String?
        public var settings: [String: String]?

        public init(displayName: String? = nil, cloudScope: String? = nil, cloudProfile: String? = nil, settings: [String: String]? = nil) {
            self.displayName = displayName
            self.cloudScope = cloudScope
            self.cloudProfile = cloudProfile
            self.settings = settings
        }
    }

    /// Changes an organization. Only system administrators: what an organization's cloud tools
    /// reach is decided outside it. A cloud profile another organization uses is a conflict.
    /// `precondition` runs on the stored organization inside the write (a lost-update check):
    /// when it throws, nothing changes.
    public func update(_ id: UUID, _ changes: Changes, by actor: Principal,
                       precondition: (@Sendable (Organization) throws -> Void)? = nil) async throws -> Organization {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators change an organization's settings") }
        let profile = try changes.cloudProfile.map { $0.isEmpty ? nil : try Self.checkedProfile($0) }
        if let name = changes.displayName, !(1...128).contains(name.count) { throw PortalError.invalid("displayName is 1–128 characters") }
        return try await environment.write { [self] txn in
            guard var organization = try txn.get(organizations.table, id) else { throw PortalError.notFound("organization") }
            try precondition?(organization)
            if let name = changes.displayName { organization.displayName = name }
            if let scope = changes.cloudScope { organization.cloudScope = scope }
            if let profile { organization.cloudProfile = profile }
            if let settings = changes.settings { organization.settings = settings }
            try checkProfileIsFree(organization, txn: txn)
            try txn.put(organizations, id, organization)
            try events.record(SecurityEvent(kind: .organizationUpdated, userID: actor.user.id, username: actor.user.username, organizationID: id,
                                            detail: "scope \(organization.cloudScope.isEmpty ? "none" : organization.cloudScope), profile \(organization.cloudProfile ?? "none")",
                                            time: clock.now()), in: txn)
            return organization
        }
    }

    /// A cloud profile name as the OCI CLI's configuration writes section names.
    static func checkedProfile(_ profile: String?) throws -> String? {
        guard let profile else { return nil }
        guard (1...64).contains(profile.count), profile.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw PortalError.invalid("cloudProfile is 1–64 letters, digits, '.', '_' or '-'")
        }
        return profile
    }

    /// Two organizations never share a cloud identity.
    private func checkProfileIsFree(_ organization: Organization, txn: borrowing WriteTransaction) throws {
        guard let profile = organization.cloudProfile else { return }
        var taken: String?
        try txn.forEach(organizations.table) { (id, other) throws(KVError) in
            if id != organization.id && other.cloudProfile == profile { taken = other.slug }
            return taken == nil
        }
        if let taken { throw PortalError.conflict("the cloud profile '\(profile)' belongs to the organization '\(taken)'") }
    }

    public func organization(_ id: UUID) throws -> Organization? {
        try environment.read { txn in try txn.get(organizations.table, id) }
    }

    public func organization(slug: String) throws -> Organization? {
        try environment.read { txn in try txn.get(organizations, bySlug, slug)?.value }
    }

    /// Whether `actor` may manage people in `organizationID` at all, and give `role`: a
    /// person signed in (an API key never manages people, so a key cannot make accounts that
    /// outlive it) with `users:manage` there, granting no role above their own; system
    /// administrators anything. Throws `PortalError.forbidden` saying why.
    static func checkMayManagePeople(in organizationID: UUID, granting role: Role?, by actor: Principal) throws {
        guard actor.apiKeyID == nil else { throw PortalError.forbidden("an API key cannot manage people; sign in") }
        guard !actor.user.isAdministrator else { return }
        guard actor.organizationID == organizationID, actor.has(.usersManage) else {
            throw PortalError.forbidden("managing members needs the users:manage permission in that organization")
        }
        if let role, role > (actor.role ?? .viewer) { throw PortalError.forbidden("you cannot grant a role above your own") }
    }

    /// Who may give `role` to `userID` in `organizationID` (or, with `nil`, remove them): as
    /// `checkMayManagePeople` says, and for anyone but a system administrator only to people
    /// who are already members (adding an existing account to an organization is a system
    /// administrator's decision: otherwise one organization's admin could find out user names
    /// and pull people of other organizations in), never to themselves (which would erase who
    /// granted their role, as the two-person rule reads it), and never to a system
    /// administrator. Throws `PortalError.forbidden` saying why.
    func checkMayGrant(_ role: Role?, to userID: UUID, in organizationID: UUID, by actor: Principal, txn: borrowing some ReadableTransaction & ~Copyable) throws {
        try Self.checkMayManagePeople(in: organizationID, granting: role, by: actor)
        guard !actor.user.isAdministrator else { return }
        guard userID != actor.user.id else { throw PortalError.forbidden("you cannot change your own membership; ask another admin") }
        guard try self.role(of: userID, in: organizationID, txn: txn) != nil else {
            throw PortalError.notFound("member")
        }
        if try txn.get(users.users.table, userID)?.isAdministrator == true {
            throw PortalError.forbidden("only system administrators change a system administrator's memberships")
        }
    }

    /// Gives `userID` `role` in the organization (replacing any role it had), or with `nil`
    /// removes the membership, if `actor` may (`checkMayGrant`). `actor` `nil` is the portal
    /// itself (first start). The membership records who granted it and when.
    public func setRole(_ role: Role?, user userID: UUID, in organizationID: UUID, by actor: Principal? = nil) async throws {
        let now = clock.now()
        try await environment.write { [self] txn in
            guard let member = try txn.get(users.users.table, userID) else { throw PortalError.notFound("user") }
            guard try txn.exists(organizations.table, organizationID) else { throw PortalError.notFound("organization") }
            if let actor { try checkMayGrant(role, to: userID, in: organizationID, by: actor, txn: txn) }
            try putRole(role, user: userID, in: organizationID, grantedBy: actor?.user.id, at: now, txn: txn)
            // People read the trail: the member by name (the id stays in the event's payload).
            try events.record(SecurityEvent(kind: .roleChanged, userID: actor?.user.id, username: actor?.user.username, organizationID: organizationID,
                                            detail: "\(member.username) → \(role?.rawValue ?? "no membership")", time: now), in: txn)
        }
    }

    /// Creates a local account that is a member of `organizationID` with `role`, recording the
    /// security event, in one transaction: a crash never leaves a user without the membership.
    /// The actor must be allowed to (`checkMayManagePeople`).
    public func createMember(username: String, displayName: String, password: String, role: Role, in organizationID: UUID, by actor: Principal) async throws -> User {
        let now = clock.now()
        try Self.checkMayManagePeople(in: organizationID, granting: role, by: actor)
        let user = try users.newUser(username: username, displayName: displayName, password: password, createdBy: actor.user.id, now: now)
        let event = SecurityEvent(kind: .userCreated, userID: actor.user.id, username: actor.user.username, organizationID: organizationID,
                                  detail: "\(user.username) as \(role.rawValue)", time: now)
        try await users.insert(user) { [self] txn in
            guard try txn.exists(organizations.table, organizationID) else { throw PortalError.notFound("organization") }
            try putRole(role, user: user.id, in: organizationID, grantedBy: actor.user.id, at: now, txn: txn)
            try events.record(event, in: txn)
        }
        return user
    }

    /// Sets or (with `nil`) removes a membership in the caller's transaction; the caller has
    /// checked that the user and the organization exist, and that the change is allowed.
    func putRole(_ role: Role?, user userID: UUID, in organizationID: UUID, grantedBy: UUID?, at now: Date, txn: borrowing WriteTransaction) throws {
        if let role {
            try txn.put(memberships, (userID, organizationID),
                        Membership(userID: userID, organizationID: organizationID, role: role, grantedBy: grantedBy, grantedAt: now))
        } else {
            _ = try txn.delete(memberships, (userID, organizationID))
        }
    }

    /// The membership record (with who granted it), or `nil`.
    func membership(of userID: UUID, in organizationID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> Membership? {
        try txn.get(memberships, (userID, organizationID))
    }

    /// Every organization, by slug.
    public func all() throws -> [Organization] {
        try environment.read { txn in
            var result: [Organization] = []
            try txn.forEach(organizations.table) { (_, organization) throws(KVError) in
                result.append(organization)
                return true
            }
            return result.sorted { $0.slug < $1.slug }
        }
    }

    /// The members of an organization with their roles, by user name.
    public func members(of organizationID: UUID) throws -> [(user: User, role: Role)] {
        try environment.read { txn in
            var result: [(User, Role)] = []
            try txn.forEach(memberships) { (key, membership) throws(KVError) in
                if key.1 == organizationID, let user = try txn.get(users.users.table, key.0) { result.append((user, membership.role)) }
                return true
            }
            return result.sorted { $0.0.username < $1.0.username }
        }
    }

    /// The user's memberships, with their organizations.
    public func memberships(of userID: UUID) throws -> [(organization: Organization, role: Role)] {
        try environment.read { txn in
            var result: [(Organization, Role)] = []
            try txn.forEach(memberships, prefix: CompositeKey<UUID, UUID>.prefix(userID)) { (_, membership) throws(KVError) in
                if let organization = try txn.get(organizations.table, membership.organizationID) { result.append((organization, membership.role)) }
                return true
            }
            return result.sorted { $0.0.slug < $1.0.slug }
        }
    }

    /// The organizations the user belongs to, in the caller's transaction.
    func organizationIDs(of userID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> [UUID] {
        var result: [UUID] = []
        try txn.forEach(memberships, prefix: CompositeKey<UUID, UUID>.prefix(userID)) { (key, _) throws(KVError) in
            result.append(key.1)
            return true
        }
        return result
    }

    /// The user's role in the organization, or `nil` when not a member.
    public func role(of userID: UUID, in organizationID: UUID) throws -> Role? {
        try environment.read { txn in try role(of: userID, in: organizationID, txn: txn) }
    }

    func role(of userID: UUID, in organizationID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> Role? {
        try txn.get(memberships, (userID, organizationID))?.role
    }
}
