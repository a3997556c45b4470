public import FoundationEssentials
import KV
import Synchronization

/// Tool packs, which organizations may use them, and which enabled them.
///
/// Guarantees: the packs shipped in the binary (`host`, `oci`) are always installed at the
/// version of the binary; a custom pack is validated whole before it is stored (one bad
/// tool refuses the pack, and so does a command tool naming an executable outside
/// `tools.allowed_executables`); an organization sees and runs only the tools of packs it
/// enabled. A system administrator decides which organizations may enable a pack (host tools
/// act on the portal's own host, cloud tools on an account): an organization's admin can
/// enable only a pack made available to it — or one it already had enabled — and taking a
/// pack away from an organization also disables it there.
public final class ToolCatalog: Sendable {
    let environment: Environment
    let customPacks: Table<StringKey, JSONValue<ToolPack>>
    let enabled: Table<CompositeKey<UUID, String>, JSONValue<PackEnablement>>
    let available: Table<CompositeKey<String, UUID>, JSONValue<PackGrant>>
    let events: SecurityEvents
    let allowedExecutables: Set<String>
    let clock: any WallClock
    /// The packs compiled into the binary, by name.
    public let shipped: [String: ToolPack]
    private let installs = Atomic<Int>(0)

    /// Changes whenever the installed tools change (a custom pack installed or replaced), so
    /// that what is derived from them (the tool search index) knows when to catch up.
    public var revision: Int { installs.load(ordering: .acquiring) }
    /// The custom packs as decoded at a revision: every catalog read needs them, and decoding
    /// hundreds of tools' schemas each time would cost every listing milliseconds. Kept only
    /// under the revision read before decoding, so an install that commits meanwhile makes
    /// the next read decode again.
    private let decodedCustomPacks = Mutex<(revision: Int, packs: [ToolPack])?>(nil)

    struct PackEnablement: Codable, Sendable {
        var schemaVersion = 1
        let enabledAt: Date
        let enabledBy: UUID
    }

    /// A system administrator made a pack available to an organization.
    struct PackGrant: Codable, Sendable {
        var schemaVersion = 1
        let grantedAt: Date
        let grantedBy: UUID
    }

    init(environment: Environment, events: SecurityEvents, allowedExecutables: Set<String>, clock: any WallClock) throws {
        self.environment = environment
        self.clock = clock
        self.events = events
        self.allowedExecutables = allowedExecutables
        customPacks = try environment.table("tool_packs", key: StringKey.self, value: JSONValue<ToolPack>.self)
        enabled = try environment.table("tool_pack_enablements", key: CompositeKey<UUID, String>.self, value: JSONValue<PackEnablement>.self)
        available = try environment.table("tool_pack_availability", key: CompositeKey<String, UUID>.self, value: JSONValue<PackGrant>.self)
        var shipped: [String: ToolPack] = [:]
        for manifest in [PackageResources.host_json, PackageResources.oci_json] {
            let pack = try JSONDecoder().decode(ToolPack.self, from: Data(manifest))
            try pack.validate()
            shipped[pack.name] = pack
        }
        self.shipped = shipped
    }

    /// Every installed pack: shipped ones, then custom ones, by name.
    public func packs() throws -> [ToolPack] {
        shipped.values.sorted { $0.name < $1.name } + (try installedPacks())
    }

    /// The pack named `name` (every tool lookup asks, so custom packs come from the decoded ones).
    public func pack(named name: String) throws -> ToolPack? {
        try shipped[name] ?? installedPacks().first { $0.name == name }
    }

    /// The custom packs, decoded once per revision.
    private func installedPacks() throws -> [ToolPack] {
        let revision = revision
        if let cached = decodedCustomPacks.withLock({ $0 }), cached.revision == revision { return cached.packs }
        let custom = try environment.read { txn in
            var result: [ToolPack] = []
            try txn.forEach(customPacks) { (_, pack) throws(KVError) in
                result.append(pack)
                return true
            }
            return result
        }
        decodedCustomPacks.withLock { $0 = (revision, custom) }
        return custom
    }

    /// Installs or replaces a custom pack. Shipped packs cannot be replaced; tool names must
    /// not collide with another pack's (they are prefixed with the pack's name).
    /// A pack of MCP tools comes only from its server's import (`MCPServers`), and an
    /// uploaded pack does not replace one.
    public func install(_ pack: ToolPack, by actor: Principal) async throws {
        guard !pack.isMCPServer else { throw PortalError.invalid("MCP tools are imported from a connected MCP server (Admin → MCP servers), not uploaded") }
        let event = SecurityEvent(kind: .packInstalled, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "\(pack.name) \(pack.version), \(pack.tools.count) tools")
        try await install(pack, by: actor, event: event) { _ in }
    }

    /// Installs `pack` with `event`, and whatever `alongside` writes, in one transaction.
    func install(_ pack: ToolPack, by actor: Principal, event: SecurityEvent,
                 alongside: @escaping @Sendable (borrowing WriteTransaction) throws -> Void) async throws {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators install tool packs") }
        do { try pack.validate(allowedExecutables: allowedExecutables) } catch let error as PackError { throw PortalError.invalid(error.description) }
        guard shipped[pack.name] == nil else { throw PortalError.conflict("'\(pack.name)' is a shipped pack; choose another name") }
        try await environment.write { [self] txn in
            if let existing = try txn.get(customPacks, pack.name), existing.isMCPServer != pack.isMCPServer {
                throw PortalError.conflict("'\(pack.name)' is " + (existing.isMCPServer ? "a connected MCP server's pack" : "an uploaded pack") + "; choose another name")
            }
            try txn.put(customPacks, pack.name, pack)
            try events.record(event, in: txn)
            try alongside(txn)
            txn.afterCommit { self.installs.add(1, ordering: .releasing) }
        }
    }

    /// Removes a custom pack with `event`, and whatever `alongside` writes, in one transaction:
    /// it leaves every organization's catalog (enablements and availability go with it).
    func uninstall(_ name: String, by actor: Principal, event: SecurityEvent,
                   alongside: @escaping @Sendable (borrowing WriteTransaction) throws -> Void) async throws {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators remove tool packs") }
        guard shipped[name] == nil else { throw PortalError.conflict("'\(name)' is a shipped pack") }
        try await environment.write { [self] txn in
            let removed = try txn.delete(customPacks, name)
            for organizationID in try availability(of: name, txn: txn) {
                _ = try txn.delete(available, (name, organizationID))
                _ = try txn.delete(enabled, (organizationID, name))
            }
            try events.record(event, in: txn)
            try alongside(txn)
            if removed { txn.afterCommit { self.installs.add(1, ordering: .releasing) } }
        }
    }

    /// Enables or disables a pack for the actor's current organization. The actor needs
    /// `admin` there; unless a system administrator (whose enabling also makes the pack
    /// available), the pack must be available to the organization to be enabled.
    public func setEnabled(_ enable: Bool, pack name: String, by actor: Principal) async throws {
        guard let organizationID = actor.organizationID else { throw PortalError.invalid("choose an organization first") }
        guard actor.has(.admin) else { throw PortalError.forbidden("enabling tool packs needs the admin permission") }
        guard try pack(named: name) != nil else { throw PortalError.notFound("pack") }
        let event = SecurityEvent(kind: enable ? .packEnabled : .packDisabled, userID: actor.user.id, username: actor.user.username,
                                  organizationID: organizationID, detail: name)
        try await environment.write { [self] txn in
            if enable {
                if actor.user.isAdministrator {
                    try txn.put(available, (name, organizationID), PackGrant(grantedAt: clock.now(), grantedBy: actor.user.id))
                } else if try !isAvailable(name, to: organizationID, txn: txn) {
                    throw PortalError.forbidden("the pack '\(name)' is not available to this organization; a system administrator makes it available")
                }
                try txn.put(enabled, (organizationID, name), PackEnablement(enabledAt: clock.now(), enabledBy: actor.user.id))
            } else {
                _ = try txn.delete(enabled, (organizationID, name))
            }
            try events.record(event, in: txn)
        }
    }

    /// Makes the pack available to exactly `organizationIDs` (system administrators only).
    /// Organizations it is taken from lose it: it is disabled there in the same transaction.
    public func setAvailability(pack name: String, to organizationIDs: Set<UUID>, by actor: Principal) async throws {
        guard actor.user.isAdministrator else { throw PortalError.forbidden("only system administrators decide which organizations may use a pack") }
        guard try pack(named: name) != nil else { throw PortalError.notFound("pack") }
        try await environment.write { [self] txn in
            let before = try availability(of: name, txn: txn)
            for organizationID in before.subtracting(organizationIDs) {
                _ = try txn.delete(available, (name, organizationID))
                if try txn.delete(enabled, (organizationID, name)) {
                    try events.record(SecurityEvent(kind: .packDisabled, userID: actor.user.id, username: actor.user.username, organizationID: organizationID,
                                                    detail: "\(name): no longer available"), in: txn)
                }
            }
            for organizationID in organizationIDs.subtracting(before) {
                try txn.put(available, (name, organizationID), PackGrant(grantedAt: clock.now(), grantedBy: actor.user.id))
            }
            try events.record(SecurityEvent(kind: .packAvailabilityChanged, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                            detail: "\(name): available to \(organizationIDs.count) organizations"), in: txn)
        }
    }

    /// Whether an admin of `organizationID` may enable the pack: a system administrator made
    /// it available there, or it is enabled there already (from before availability existed).
    public func isAvailable(_ name: String, to organizationID: UUID) throws -> Bool {
        try environment.read { txn in try isAvailable(name, to: organizationID, txn: txn) }
    }

    private func isAvailable(_ name: String, to organizationID: UUID, txn: borrowing some ReadableTransaction & ~Copyable) throws -> Bool {
        try txn.exists(available, (name, organizationID)) || txn.exists(enabled, (organizationID, name))
    }

    /// Every organization the pack is available to (`isAvailable`), for system administrators.
    /// - Complexity: O(enablements of every pack): the enablements are scanned.
    public func availability(of name: String) throws -> Set<UUID> {
        try environment.read { txn in try availability(of: name, txn: txn) }
    }

    private func availability(of name: String, txn: borrowing some ReadableTransaction & ~Copyable) throws -> Set<UUID> {
        var organizations: Set<UUID> = []
        try txn.forEach(available, prefix: CompositeKey<String, UUID>.prefix(name)) { (key, _) throws(KVError) in
            organizations.insert(key.1)
            return true
        }
        try txn.forEach(enabled) { (key, _) throws(KVError) in
            if key.1 == name { organizations.insert(key.0) }
            return true
        }
        return organizations
    }

    /// The names of the packs the organization enabled.
    public func enabledPacks(in organizationID: UUID) throws -> Set<String> {
        try environment.read { txn in
            var names: Set<String> = []
            try txn.forEach(enabled, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (key, _) throws(KVError) in
                names.insert(key.1)
                return true
            }
            return names
        }
    }

    /// The tools the organization can use, by category then name.
    public func tools(in organizationID: UUID) throws -> [Tool] {
        let names = try enabledPacks(in: organizationID)
        return try packs().filter { names.contains($0.name) }.flatMap(\.tools).sorted { ($0.category, $0.name) < ($1.category, $1.name) }
    }

    /// The tool, when a pack the organization enabled has it.
    public func tool(named name: String, in organizationID: UUID) throws -> Tool? {
        guard let packName = name.split(separator: ".").first.map(String.init),
              try enabledPacks(in: organizationID).contains(packName),
              let pack = try pack(named: packName)
        else { return nil }
        return pack.tools.first { $0.name == name }
    }
}
