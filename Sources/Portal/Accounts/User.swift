public import FoundationEssentials

/// A person who can sign in. `passwordHash` is a `PasswordHasher` string, never a password.
public struct User: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: UUID
    public var username: String
    public var displayName: String
    public var passwordHash: String?
    /// System administrators manage users, organizations and settings across the portal.
    public var isAdministrator: Bool
    /// Set for generated passwords (the first administrator's): the next sign-in must change it.
    public var mustChangePassword: Bool
    public let createdAt: Date
}
