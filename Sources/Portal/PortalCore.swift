public import KV

/// The portal's domain, opened on one storage environment: what the web layer and the
/// command line call into. It knows nothing of HTTP.
public final class PortalCore: Sendable {
    public let environment: Environment
    public let accounts: Accounts
    public let vectors: VectorCollections
    /// How long loading each vector collection took at start-up.
    public let vectorLoadTimes: [(name: String, nodes: Int, duration: Duration)]

    /// The schema version this binary writes; a data directory or backup from a newer one is refused.
    public static var schemaVersion: Int { Schema.migrations.map(\.version).max() ?? 0 }

    /// Opens the domain on `environment`, applying pending schema migrations first.
    public init(environment: Environment, passwordHasher: PasswordHasher = PasswordHasher()) async throws {
        try await environment.migrate(Schema.migrations)
        self.environment = environment
        self.accounts = try Accounts(environment: environment, hasher: passwordHasher)
        self.vectors = try VectorCollections(environment: environment)
        self.vectorLoadTimes = try vectors.load()
    }

    /// Storage readiness, for `/readyz`.
    public func storageHealth() -> StorageHealth { environment.health() }
}
