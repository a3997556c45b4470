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
    /// Who created the account (`nil`: the portal itself, or single sign-on).
    public var createdBy: UUID? = nil
    /// The organization the user last switched to: where their next session starts.
    public var lastOrganizationID: UUID? = nil
    /// Who last reset the password, and when: the two-person rule treats an account whose
    /// password the requester reset like one they created.
    public var passwordResetBy: UUID? = nil
    public var passwordResetAt: Date? = nil
}
