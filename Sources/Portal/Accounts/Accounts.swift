public import FoundationEssentials
import KV
import Synchronization

/// Users and their credentials.
public struct Accounts: Sendable {
    let environment: Environment
    let users: IndexedTable<Key<UUID>, JSONValue<User>>
    let byUsername: IndexHandle<StringKey, Key<UUID>>
    let hasher: PasswordHasher

    init(environment: Environment, hasher: PasswordHasher) throws {
        self.environment = environment
        self.users = try environment.indexedTable("users", key: Key<UUID>.self, value: JSONValue<User>.self, indexes: [
            .unique("username", StringKey.self) { $0.username },
        ])
        self.byUsername = users.index("username", StringKey.self)
        self.hasher = hasher
    }

    /// The account created on first start.
    public struct FirstAdministrator: Sendable {
        public let username: String
        /// The generated password to print once; `nil` when the operator configured one.
        public let oneTimePassword: String?
    }

    /// Creates the first administrator when the portal has no users yet. Without a configured
    /// `password`, one is generated and returned to be shown once (it is stored only hashed) and
    /// must be changed at first sign-in. Returns `nil` when users already exist.
    public func bootstrapFirstAdministrator(username: String, password configured: String?) async throws -> FirstAdministrator? {
        let password = configured ?? Self.generatePassword()
        let user = User(
            id: UUID(), username: username, displayName: "Administrator",
            passwordHash: hasher.hash(password), isAdministrator: true,
            mustChangePassword: configured == nil, createdAt: Date()
        )
        let users = self.users
        let created = try await environment.write { txn in
            guard try txn.count(users.table) == 0 else { return false }
            try txn.put(users, user.id, user)
            return true
        }
        return created ? FirstAdministrator(username: username, oneTimePassword: configured == nil ? password : nil) : nil
    }

    /// A hash of a random password, verified against when the user does not exist so that a
    /// sign-in takes as long for an unknown name as for a wrong password.
    var dummyHash: String {
        dummy.value.withLock { cached in
            if let cached { return cached }
            let hash = hasher.hash(Self.generatePassword())
            cached = hash
            return hash
        }
    }
    private let dummy = DummyHash()

    /// Holds the dummy hash once computed (Accounts is a value; the cache is shared).
    private final class DummyHash: Sendable {
        let value = Mutex<String?>(nil)
    }

    /// Creates a local account. User names are 1–64 characters of lowercase letters, digits,
    /// `.`, `_`, `-`; passwords follow `PasswordRules`. Throws `PortalError.invalid` or
    /// `.conflict` (name taken).
    public func create(username: String, displayName: String, password: String, isAdministrator: Bool = false) async throws -> User {
        let user = try newUser(username: username, displayName: displayName, password: password, isAdministrator: isAdministrator, createdBy: nil, now: Date())
        try await insert(user) { _ in }
        return user
    }

    /// A validated, hashed user not yet stored.
    func newUser(username: String, displayName: String, password: String, isAdministrator: Bool = false, createdBy: UUID?, now: Date) throws -> User {
        guard (1...64).contains(username.count), username.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }) else {
            throw PortalError.invalid("user names are 1–64 lowercase letters, digits, '.', '_' or '-'")
        }
        guard (0...128).contains(displayName.count) else { throw PortalError.invalid("display names are at most 128 characters") }
        try PasswordRules.check(password, username: username)
        return User(id: UUID(), username: username, displayName: displayName, passwordHash: hasher.hash(password),
                    isAdministrator: isAdministrator, mustChangePassword: false, createdAt: now, createdBy: createdBy)
    }

    /// Changes the stored user `id` in the caller's transaction. A user that does not exist
    /// is `PortalError.notFound`.
    @available(*, noasync)
    func update(_ id: UUID, in txn: borrowing WriteTransaction, _ change: (inout User) throws -> Void) throws {
        guard var user = try txn.get(users.table, id) else { throw PortalError.notFound("user") }
        try change(&user)
        try txn.put(users, id, user)
    }

    /// Stores `user` and, in the same transaction, whatever `also` writes (memberships, events).
    /// A taken name is `PortalError.conflict` and nothing is written.
    func insert(_ user: User, also: @escaping @Sendable (borrowing WriteTransaction) throws -> Void) async throws {
        do {
            try await environment.write { [users] txn in
                try txn.put(users, user.id, user)
                try also(txn)
            }
        } catch KVError.uniqueViolation {
            throw PortalError.conflict("the user name '\(user.username)' is taken")
        }
    }

    /// Every user, by user name.
    public func all() throws -> [User] {
        try environment.read { txn in
            var result: [User] = []
            try txn.forEach(users.table) { (_, user) throws(KVError) in
                result.append(user)
                return true
            }
            return result.sorted { $0.username < $1.username }
        }
    }

    /// The user with `id`, or `nil`.
    public func user(id: UUID) throws -> User? {
        try environment.read { txn in try txn.get(users.table, id) }
    }

    /// The user named `username`, or `nil`.
    public func user(named username: String) throws -> User? {
        try environment.read { txn in try txn.get(users, byUsername, username)?.value }
    }

    /// Whether `password` is the password of `username`.
    public func verifyPassword(username: String, password: String) throws -> Bool {
        guard let hash = try user(named: username)?.passwordHash else { return false }
        return hasher.verify(password, against: hash)
    }

    /// 20 characters from an alphabet without look-alikes (~115 bits).
    static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var result = ""
        while result.count < 20 {
            for byte in Crypto.randomBytes(32) where result.count < 20 {
                // Rejection sampling keeps every character equally likely.
                let limit = UInt8(256 - 256 % alphabet.count)
                if byte < limit { result.append(alphabet[Int(byte) % alphabet.count]) }
            }
        }
        return result
    }
}
