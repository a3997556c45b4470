public import KV

/// The portal's domain, opened on one storage environment: what the web layer and the
/// command line call into. It knows nothing of HTTP.
public final class PortalCore: Sendable {
    public let environment: Environment
    public let accounts: Accounts
    public let organizations: Organizations
    public let sessions: Sessions
    public let passwords: Passwords
    public let apiKeys: APIKeys
    public let rateLimiter: RateLimiter
    public let secrets: Secrets
    public let securityEvents: SecurityEvents
    public let audit: AuditTrail
    public let singleSignOn: SingleSignOn
    public let vectors: VectorCollections
    public let tools: ToolCatalog
    public let toolSecrets: OrganizationSecrets
    public let runs: ToolRuns
    public let embeddings: SearchEmbeddings
    public let reindexer: SearchReindexer
    public let chat: ChatSessions
    public let toolSearch: ToolSearch
    public let assistant: Assistant
    /// Where expiry deadlines read the time (sessions, API keys, sign-in throttling).
    public let clock: any WallClock
    /// Broadcast of what people should learn as it happens (and `access.changed`).
    public let notifications: Notifications
    /// How long loading each vector collection took at start-up.
    public let vectorLoadTimes: [(name: String, nodes: Int, duration: Duration)]

    /// The schema version this binary writes; a data directory or backup from a newer one is refused.
    public static var schemaVersion: Int { Schema.migrations.map(\.version).max() ?? 0 }

    /// Opens the domain on `environment`, applying pending schema migrations first.
    /// `approvalIndependence`: see `ToolRuns` (the two-person rule).
    /// `toolOptions` defaults to the standard tools path and allow-list, with run directories
    /// under the data directory; `embedder` (until an administrator chooses another) to the
    /// built-in `HashingEmbedder`.
    public init(environment: Environment, passwordHasher: PasswordHasher = PasswordHasher(), rateLimits: [RateClass: RateLimit] = RateLimit.defaults,
                signInPolicy: SignInPolicy = SignInPolicy(), toolOptions: ToolRuntimeOptions? = nil, embedder: (any Embedder)? = nil,
                reindexRetryDelay: Duration = .seconds(30), approvalIndependence: Duration = .seconds(24 * 3600),
                clock: any WallClock = SystemClock()) async throws {
        try await environment.migrate(Schema.migrations)
        self.environment = environment
        self.clock = clock
        self.notifications = Notifications()
        self.accounts = try Accounts(environment: environment, hasher: passwordHasher)
        self.secrets = try Secrets(environment: environment)
        self.audit = try AuditTrail(environment: environment, secrets: secrets)
        self.securityEvents = SecurityEvents(environment: environment, audit: audit, notifications: notifications, secrets: secrets)
        self.organizations = try Organizations(environment: environment, users: accounts, events: securityEvents, clock: clock)
        self.sessions = try Sessions(environment: environment, accounts: accounts, organizations: organizations, events: securityEvents,
                                     clock: clock, signInPolicy: signInPolicy)
        self.apiKeys = try APIKeys(environment: environment, accounts: accounts, organizations: organizations, events: securityEvents, clock: clock)
        self.passwords = Passwords(environment: environment, accounts: accounts, organizations: organizations, sessions: sessions, events: securityEvents,
                                   apiKeys: apiKeys, clock: clock)
        self.rateLimiter = try RateLimiter(environment: environment, limits: rateLimits, clock: clock)
        self.singleSignOn = try SingleSignOn(environment: environment, accounts: accounts, organizations: organizations, sessions: sessions, secrets: secrets, events: securityEvents)
        self.vectors = try VectorCollections(environment: environment)
        let toolOptions = toolOptions ?? ToolRuntimeOptions(workRoot: environment.path + "/tool-runs")
        self.tools = try ToolCatalog(environment: environment, events: securityEvents, allowedExecutables: toolOptions.allowedExecutables, clock: clock)
        self.toolSecrets = OrganizationSecrets(environment: environment, secrets: secrets, events: securityEvents)
        let http = OutboundHTTP()
        let executor = ToolExecutor(options: toolOptions, secrets: secrets, http: http,
                                    builtins: BuiltinTools(http: http, deniedNetworks: toolOptions.deniedNetworks))
        self.runs = try ToolRuns(environment: environment, catalog: tools, organizations: organizations, accounts: accounts, audit: audit,
                                 executor: executor, notifications: notifications, clock: clock,
                                 independenceWindow: approvalIndependence)
        self.vectorLoadTimes = try vectors.load()
        self.embeddings = try SearchEmbeddings(environment: environment, secrets: secrets, events: securityEvents, initial: embedder ?? HashingEmbedder())
        self.chat = try ChatSessions(environment: environment, vectors: vectors, organizations: organizations, embeddings: embeddings)
        self.toolSearch = try ToolSearch(environment: environment, catalog: tools, vectors: vectors, embeddings: embeddings)
        self.reindexer = SearchReindexer(embeddings: embeddings, chat: chat, tools: toolSearch, vectors: vectors, retryDelay: reindexRetryDelay)
        self.assistant = try Assistant(environment: environment, sessions: chat, toolSearch: toolSearch, runs: runs, organizations: organizations,
                                       accounts: accounts, configuration: try AssistantConfiguration(environment: environment, secrets: secrets, events: securityEvents))
    }

    /// First start: the first administrator, and a `default` organization in which they are
    /// an admin. Returns the administrator when one was created now.
    public func bootstrap(adminUsername: String, adminPassword: String?) async throws -> Accounts.FirstAdministrator? {
        let created = try await accounts.bootstrapFirstAdministrator(username: adminUsername, password: adminPassword)
        if try organizations.organization(slug: "default") == nil {
            do {
                _ = try await organizations.create(slug: "default", displayName: "Default organization")
            } catch AccessError.conflict {
                // Created concurrently: fine.
            }
        }
        if let created, let admin = try accounts.user(named: created.username), let organization = try organizations.organization(slug: "default") {
            try await organizations.setRole(.admin, user: admin.id, in: organization.id)
        }
        return created
    }

    /// What `portal serve` does once before serving: runs that were executing when the portal
    /// stopped are marked interrupted (never re-run), and conversations paused on approvals
    /// are watched again (those whose run is final go on at once), and a switch of embeddings
    /// provider goes on. Not done on open, so `portal check` and
    /// other read-only commands change nothing.
    public func resumeAfterStart() async throws {
        try await runs.markInterrupted()
        try await assistant.resumePaused()
        try reindexer.resume()
    }

    /// `principal` as it stands now — its session still open, its key not revoked or expired,
    /// its role re-read — or `nil` when its access ended. For work that outlives the request
    /// that authenticated it (an event stream).
    public func current(_ principal: Principal) async throws -> Principal? {
        if let keyID = principal.apiKeyID { return try await apiKeys.principal(keyID: keyID) }
        if let sessionKey = principal.sessionKey {
            return try await sessions.principal(sessionKey: sessionKey, csrfToken: principal.csrfToken, touch: false)
        }
        return principal
    }

    /// Storage readiness, for `/readyz`: open, writable, at least `minimumFreeBytes` free.
    public func storageHealth(minimumFreeBytes: UInt64 = StorageHealth.defaultMinimumFreeBytes) -> StorageHealth {
        environment.health(minimumFreeBytes: minimumFreeBytes)
    }
}
