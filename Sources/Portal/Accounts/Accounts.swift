import FoundationEssentials
import KV

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
