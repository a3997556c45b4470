public import KV
public import ServiceLifecycle

/// The portal's domain, opened on one storage environment: what the web layer and the
/// command line call into. It knows nothing of HTTP.
public final class PortalCore: Sendable {
    public let environment: Environment
    public let accounts: Accounts
    public let organizations: Organizations
    public let sessions: Sessions
    public let passwords: Passwords
    public let apiKeys: APIKeys
    /// Sign-in of MCP clients (OAuth 2.1), issuing them keys at a person's consent.
    public let oauth: OAuthServer
    public let rateLimiter: RateLimiter
    public let secrets: Secrets
    public let securityEvents: SecurityEvents
    public let audit: AuditTrail
    /// Every domain change's event, for the consumers (notifications, resumes; webhooks later).
    public let outbox: Outbox
    /// Durable background work and timers.
    public let jobs: Jobs
    public let singleSignOn: SingleSignOn
    public let vectors: VectorCollections
    public let tools: ToolCatalog
    public let toolSecrets: OrganizationSecrets
    /// External MCP servers whose tools are imported as packs.
    public let mcpServers: MCPServers
    public let runs: ToolRuns
    public let embeddings: SearchEmbeddings
    public let reindexer: SearchReindexer
    public let chat: ChatSessions
    public let toolSearch: ToolSearch
    public let assistant: Assistant
    public let webhooks: Webhooks
    /// Versioned workflow definitions and their durable runs.
    public let workflows: Workflows
    /// Incidents with SLA clocks on business calendars.
    public let incidents: Incidents
    public let incidentSearch: IncidentSearch
    /// The CMDB: configuration items and their relations.
    public let assets: Assets
    /// Changes with CAB authorization, planned windows and their implementation.
    public let changes: Changes
    /// The answers to requests sent with an `Idempotency-Key`.
    public let idempotencyKeys: IdempotencyKeys
    /// Where expiry deadlines read the time (sessions, API keys, sign-in throttling).
    public let clock: any WallClock
    /// Broadcast of what people should learn as it happens, fed by the outbox (see `PortalNotification`).
    public let notifications: Notifications
    /// What must run while the portal serves: the jobs runner and the outbox consumers. The
    /// server puts them in its ServiceGroup; tests run them beside the core.
    public let services: [any Service]
    /// The outbox consumers among `services`.
    let eventConsumers: [EventConsumer]
    /// How long loading each vector collection took at start-up.
    public let vectorLoadTimes: [(name: String, nodes: Int, duration: Duration)]

    /// The schema version this binary writes; a data directory or backup from a newer one is refused.
    public static var schemaVersion: Int { Schema.version }

    /// Opens the domain on `environment`, applying pending schema migrations first.
    /// `approvalIndependence`: see `ToolRuns` (the two-person rule).
    /// `toolOptions` defaults to the standard tools path and allow-list, with run directories
    /// under the data directory; `sentenceModel` (where the built-in sentence model's files
    /// are) to `SentenceModel.defaultDirectory()`'s. Search embeds with the hashing embedder
    /// until `resumeAfterStart` adopts the default one or an administrator chooses. `version` is how the portal names itself to
    /// other servers.
    public init(environment: Environment, passwordHasher: PasswordHasher = PasswordHasher(), rateLimits: [RateClass: RateLimit] = RateLimit.defaults,
                signInPolicy: SignInPolicy = SignInPolicy(), toolOptions: ToolRuntimeOptions? = nil,
                sentenceModel: SentenceModel = .at(),
                reindexRetryDelay: Duration = .seconds(30), approvalIndependence: Duration = .seconds(24 * 3600),
                clock: any WallClock = SystemClock(), jobLease: Duration = .seconds(30), shutdownGrace: Duration = .seconds(25),
                webhooks webhookOptions: WebhookOptions = WebhookOptions(), version: String = "dev") async throws {
        let migrations = try Schema.migrations(environment)
        precondition(migrations.map(\.version).max() == Schema.version, "Schema.version names the last step")
        try await environment.migrate(migrations)
        self.environment = environment
        self.clock = clock
        self.notifications = Notifications()
        self.accounts = try Accounts(environment: environment, hasher: passwordHasher)
        self.secrets = try Secrets(environment: environment)
        self.audit = try AuditTrail(environment: environment, secrets: secrets)
        self.outbox = try Outbox(environment: environment, audit: audit)
        self.jobs = try Jobs(environment: environment, clock: clock, lease: jobLease, shutdownGrace: shutdownGrace)
        self.securityEvents = SecurityEvents(environment: environment, audit: audit, outbox: outbox, secrets: secrets)
        self.organizations = try Organizations(environment: environment, users: accounts, events: securityEvents, clock: clock)
        self.sessions = try Sessions(environment: environment, accounts: accounts, organizations: organizations, events: securityEvents,
                                     clock: clock, signInPolicy: signInPolicy)
        self.apiKeys = try APIKeys(environment: environment, accounts: accounts, organizations: organizations, events: securityEvents, clock: clock)
        self.oauth = try OAuthServer(environment: environment, apiKeys: apiKeys, clock: clock)
        self.passwords = Passwords(environment: environment, accounts: accounts, organizations: organizations, sessions: sessions, events: securityEvents,
                                   apiKeys: apiKeys, clock: clock)
        self.rateLimiter = try RateLimiter(environment: environment, limits: rateLimits, clock: clock)
        self.singleSignOn = try SingleSignOn(environment: environment, accounts: accounts, organizations: organizations, sessions: sessions, secrets: secrets, events: securityEvents)
        self.vectors = try VectorCollections(environment: environment)
        let toolOptions = toolOptions ?? ToolRuntimeOptions(workRoot: environment.path + "/tool-runs")
        self.tools = try ToolCatalog(environment: environment, events: securityEvents, allowedExecutables: toolOptions.allowedExecutables, clock: clock)
        self.toolSecrets = OrganizationSecrets(environment: environment, secrets: secrets, events: securityEvents)
        let http = OutboundHTTP()
        self.mcpServers = try MCPServers(environment: environment, secrets: secrets, catalog: tools, events: securityEvents, jobs: jobs, http: http,
                                         runtime: toolOptions, clock: clock, clientVersion: version)
        let executor = ToolExecutor(options: toolOptions, secrets: secrets, http: http,
                                    builtins: BuiltinTools(http: http, deniedNetworks: toolOptions.deniedNetworks), mcpServers: mcpServers)
        self.runs = try ToolRuns(environment: environment, catalog: tools, organizations: organizations, accounts: accounts, outbox: outbox, jobs: jobs,
                                 executor: executor, notifications: notifications, clock: clock,
                                 independenceWindow: approvalIndependence)
        self.vectorLoadTimes = try vectors.load()
        self.embeddings = try SearchEmbeddings(environment: environment, secrets: secrets, events: securityEvents, sentenceModel: sentenceModel)
        self.chat = try ChatSessions(environment: environment, vectors: vectors, organizations: organizations, embeddings: embeddings, outbox: outbox)
        self.toolSearch = try ToolSearch(environment: environment, catalog: tools, vectors: vectors, embeddings: embeddings)
        self.workflows = try Workflows(environment: environment, toolRuns: runs, organizations: organizations, accounts: accounts, outbox: outbox, jobs: jobs,
                                       notifications: notifications, clock: clock, secrets: secrets,
                                       outboundTargets: WebhookTargets(allowed: webhookOptions.allowedNetworks), http: http)
        self.incidents = try Incidents(environment: environment, organizations: organizations, accounts: accounts, outbox: outbox, jobs: jobs, clock: clock)
        self.incidentSearch = try IncidentSearch(environment: environment, incidents: incidents, vectors: vectors, embeddings: embeddings, jobs: jobs)
        self.reindexer = SearchReindexer(embeddings: embeddings, chat: chat, tools: toolSearch, incidents: incidentSearch, vectors: vectors, jobs: jobs,
                                         retryDelay: reindexRetryDelay)
        let assets = try Assets(environment: environment, outbox: outbox, clock: clock)
        self.assets = assets
        self.changes = try Changes(environment: environment, assets: assets, workflows: workflows, outbox: outbox, clock: clock)
        self.assistant = try Assistant(environment: environment, sessions: chat, toolSearch: toolSearch, runs: runs, workflows: workflows, incidents: incidents,
                                       changes: changes, organizations: organizations,
                                       accounts: accounts, jobs: jobs,
                                       configuration: try AssistantConfiguration(environment: environment, secrets: secrets, events: securityEvents))
        self.webhooks = try Webhooks(environment: environment, secrets: secrets, events: securityEvents, jobs: jobs, clock: clock, options: webhookOptions)
        self.idempotencyKeys = try IdempotencyKeys(environment: environment, clock: clock)
        let notifications = notifications
        self.eventConsumers = [
            EventConsumer("notifications", outbox: outbox, deliver: { entries in
                for entry in entries { if let notification = PortalNotification.notification(for: entry) { notifications.publish(notification) } }
            }),
            assistant.resumeConsumer(outbox: outbox),
            webhooks.consumer(outbox: outbox),
            workflows.eventConsumer(outbox: outbox),
        ]
        self.services = [jobs] + eventConsumers
        try mcpServers.startListeners()
        Maintenance.register(on: jobs, core: self)
    }

    /// First start: the first administrator, and a `default` organization in which they are
    /// an admin. Returns the administrator when one was created now.
    public func bootstrap(adminUsername: String, adminPassword: String?) async throws -> Accounts.FirstAdministrator? {
        let created = try await accounts.bootstrapFirstAdministrator(username: adminUsername, password: adminPassword)
        if try organizations.organization(slug: "default") == nil {
            do {
                _ = try await organizations.create(slug: "default", displayName: "Default organization")
            } catch PortalError.conflict {
                // Created concurrently: fine.
            }
        }
        if let created, let admin = try accounts.user(named: created.username), let organization = try organizations.organization(slug: "default") {
            try await organizations.setRole(.admin, user: admin.id, in: organization.id)
        }
        return created
    }

    /// What `portal serve` does once before serving: the outbox consumers start at the newest
    /// entry the first time; runs that were executing when the portal stopped are marked
    /// interrupted (never re-run); unfinished workflow runs go on; conversations paused on runs decided meanwhile go on; search
    /// adopts `defaultEmbedder` where no administrator chose one, and a switch of embeddings
    /// provider goes on (`SearchReindexer.adopt`); the maintenance timers are (re)scheduled.
    /// Not done on open, so `portal check` and other read-only commands change nothing.
    /// Returns warnings to log (search fell back to the hashing embedder); throws when search
    /// needs the sentence model and its files are missing or corrupt.
    @discardableResult
    public func resumeAfterStart(defaultEmbedder: DefaultEmbedder, maintenance: Maintenance = Maintenance()) async throws -> [String] {
        for consumer in eventConsumers { try await outbox.register(consumer.name) }
        try await runs.markInterrupted()
        try await assistant.resumePaused()
        let warning = try await reindexer.adopt(defaultEmbedder)
        try await workflows.resumeAfterStart()
        try await maintenance.schedule(on: jobs)
        return warning.map { [$0] } ?? []
    }

    /// Returns once the outbox consumers (notifications, the assistant's resumes) have seen
    /// every event recorded before the call.
    public func waitForEventConsumers() async throws {
        try await outbox.waitUntilConsumed(by: eventConsumers.map(\.name))
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
