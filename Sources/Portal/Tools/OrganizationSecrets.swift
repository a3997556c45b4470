public import FoundationEssentials
import KV

/// The credentials an organization's HTTP tools send (`{{secret.NAME}}` in a header), each
/// organization its own: a tool run reads only the secrets of the organization it runs in, so
/// a pack enabled in several organizations never carries one's credentials into another's
/// runs, and no tool can read the portal's own secrets (single sign-on, model keys).
///
/// Guarantees: values are sealed (`Secrets`), written only by the organization's admins or
/// system administrators, never returned — only names are listed — and every change is a
/// security event naming the secret, never its value.
public final class OrganizationSecrets: Sendable {
    let environment: Environment
    let secrets: Secrets
    let events: SecurityEvents

    init(environment: Environment, secrets: Secrets, events: SecurityEvents) {
        self.environment = environment
        self.secrets = secrets
        self.events = events
    }

    /// Where the organization's secret `name` is stored among the portal's secrets.
    static func storageName(_ name: String, of organizationID: UUID) -> String {
        prefix(organizationID) + name
    }

    private static func prefix(_ organizationID: UUID) -> String { "org/\(organizationID.uuidString.lowercased())/" }

    /// Names are what templates write after `secret.`: 1–64 letters, digits, `.`, `_`, `-`.
    static func checkName(_ name: String) throws {
        guard (1...64).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw PortalError.invalid("secret names are 1–64 letters, digits, '.', '_' or '-'")
        }
    }

    private static func checkMayManage(_ organizationID: UUID, _ actor: Principal) throws {
        guard actor.user.isAdministrator || (actor.organizationID == organizationID && actor.has(.admin) && actor.apiKeyID == nil) else {
            throw PortalError.forbidden("an organization's tool credentials are set by its admins, signed in")
        }
    }

    /// Sets (or replaces) the organization's secret `name`.
    public func set(_ name: String, to value: String, in organizationID: UUID, by actor: Principal) async throws {
        try Self.checkMayManage(organizationID, actor)
        try Self.checkName(name)
        guard (1...8192).contains(value.utf8.count) else { throw PortalError.invalid("a secret's value is 1–8192 bytes") }
        let storageName = Self.storageName(name, of: organizationID)
        let sealed = try secrets.seal(storageName, value)
        let event = SecurityEvent(kind: .secretChanged, userID: actor.user.id, username: actor.user.username, organizationID: organizationID,
                                  detail: "tool secret '\(name)' set")
        try await environment.write { [secrets, events] txn in
            try txn.put(secrets.table, storageName, sealed)
            try events.record(event, in: txn)
        }
    }

    /// Removes the organization's secret `name` (`notFound` when there is none).
    public func delete(_ name: String, in organizationID: UUID, by actor: Principal) async throws {
        try Self.checkMayManage(organizationID, actor)
        try Self.checkName(name)
        let storageName = Self.storageName(name, of: organizationID)
        let event = SecurityEvent(kind: .secretChanged, userID: actor.user.id, username: actor.user.username, organizationID: organizationID,
                                  detail: "tool secret '\(name)' removed")
        try await environment.write { [secrets, events] txn in
            guard try txn.delete(secrets.table, storageName) else { throw PortalError.notFound("secret") }
            try events.record(event, in: txn)
        }
    }

    /// The names of the organization's secrets, sorted; never their values.
    public func names(in organizationID: UUID, by actor: Principal) throws -> [String] {
        try Self.checkMayManage(organizationID, actor)
        let prefix = Self.prefix(organizationID)
        return try environment.read { txn in
            var names: [String] = []
            try txn.forEach(secrets.table, prefix: Array(prefix.utf8)) { (key, _) throws(KVError) in
                names.append(String(key.dropFirst(prefix.count)))
                return true
            }
            return names
        }
    }
}
