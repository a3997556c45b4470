import Portal

/// One setting the portal understands: its name in the file (`section.key`), its environment
/// variable (`PORTAL_SECTION_KEY`), its type and range, its default, and whether it is secret.
struct ConfigurationKey: Sendable {
    enum Kind: Sendable {
        case string
        case integer(ClosedRange<Int>)
        case boolean
        case choice([String])
        /// Comma-separated IP addresses or CIDR ranges.
        case networks
        /// Comma-separated whole numbers of seconds in the range, at least one.
        case secondsList(ClosedRange<Int>)
    }

    let name: String
    let kind: Kind
    let defaultValue: String?
    let isSecret: Bool
    let help: String

    init(_ name: String, _ kind: Kind, default defaultValue: String?, secret: Bool = false, help: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.isSecret = secret
        self.help = help
    }

    /// `server.port` → `PORTAL_SERVER_PORT`.
    var environmentVariable: String {
        "PORTAL_" + name.uppercased().map { $0 == "." ? "_" : $0 }.map(String.init).joined()
    }

    /// Checks a textual value against the key's kind; returns a problem sentence or `nil`.
    func problem(with value: String) -> String? {
        switch kind {
        case .string:
            return nil
        case let .integer(range):
            guard let number = Int(value) else { return "\(name): expected an integer, got \"\(value)\"" }
            return range.contains(number) ? nil : "\(name): \(number) is out of range \(range.lowerBound)...\(range.upperBound)"
        case .boolean:
            return ["true", "false"].contains(value) ? nil : "\(name): expected true or false, got \"\(value)\""
        case let .choice(choices):
            return choices.contains(value) ? nil : "\(name): expected one of \(choices.joined(separator: ", ")), got \"\(value)\""
        case .networks:
            let bad = PortalConfiguration.list(value).filter { NetworkRange($0) == nil }
            return bad.isEmpty ? nil : "\(name): not an IP address or CIDR range: \(bad.joined(separator: ", "))"
        case let .secondsList(range):
            let items = PortalConfiguration.list(value)
            guard !items.isEmpty else { return "\(name): expected at least one number of seconds" }
            let bad = items.filter { Int($0).map { !range.contains($0) } ?? true }
            return bad.isEmpty ? nil : "\(name): not a number of seconds in \(range.lowerBound)...\(range.upperBound): \(bad.joined(separator: ", "))"
        }
    }

    /// Every key, in the order `portal config` prints them.
    static let all: [ConfigurationKey] = [
        .init("server.host", .string, default: "127.0.0.1", help: "Address to listen on."),
        .init("server.port", .integer(0...65535), default: "8080", help: "Port to listen on; 0 picks a free port."),
        .init("server.shutdown_grace_seconds", .integer(0...3600), default: "10",
              help: "On SIGTERM/SIGINT, how long in-flight requests may take to finish."),
        .init("server.public_url", .string, default: nil, help: "The URL people use to reach the portal, when behind a proxy."),
        .init("server.trusted_proxies", .networks, default: "",
              help: "Reverse proxies (comma-separated addresses or CIDR ranges) whose X-Forwarded-For names the client."),
        .init("server.header_timeout_seconds", .integer(1...3600), default: "10", help: "A new connection must send its request headers within this."),
        .init("server.body_timeout_seconds", .integer(1...3600), default: "30", help: "A request's body must arrive within this after its headers."),
        .init("server.idle_timeout_seconds", .integer(1...86_400), default: "60", help: "A connection with no request in progress is closed after this."),
        .init("server.max_connections_per_address", .integer(1...1_000_000), default: "64",
              help: "Connections one client address may hold at once (trusted proxies are exempt)."),
        .init("storage.data_dir", .string, default: "./data", help: "Directory holding the portal's data."),
        .init("storage.map_size_mb", .integer(1...1_048_576), default: "64", help: "Initial size of the storage map; it grows by doubling."),
        .init("storage.max_map_size_mb", .integer(1...16_777_216), default: "65536", help: "Ceiling the storage map may grow to."),
        .init("storage.sync", .boolean, default: "true", help: "Sync every commit to disk (never turn off in production)."),
        .init("storage.min_free_mb", .integer(0...1_048_576), default: "16", help: "GET /readyz answers not ready with less free space than this in the data directory."),
        .init("storage.expiry_sweep_seconds", .integer(1...86_400), default: "60", help: "How often expired records (sessions, approvals, ...) are deleted."),
        .init("ratelimit.enabled", .boolean, default: "true", help: "Rate-limit requests (turn off only behind a proxy that does it)."),
        .init("ratelimit.sign_in_per_minute", .integer(1...1_000_000), default: "120",
              help: "Password sign-in requests per minute per client address (failures per account are limited by signin.*)."),
        .init("ratelimit.sign_in_burst", .integer(1...1_000_000), default: "60", help: "Password sign-in requests allowed at once from one address."),
        .init("ratelimit.sso_per_minute", .integer(1...1_000_000), default: "300", help: "Single sign-ons (started and finished) per minute per client address."),
        .init("ratelimit.sso_burst", .integer(1...1_000_000), default: "100", help: "Single sign-ons allowed at once from one address."),
        .init("ratelimit.read_per_minute", .integer(1...1_000_000), default: "1200", help: "Reads per minute per client address and per principal."),
        .init("ratelimit.read_burst", .integer(1...1_000_000), default: "200", help: "Reads allowed at once."),
        .init("ratelimit.write_per_minute", .integer(1...1_000_000), default: "300", help: "Writes per minute per client address and per principal."),
        .init("ratelimit.write_burst", .integer(1...1_000_000), default: "60", help: "Writes allowed at once."),
        .init("ratelimit.tool_run_per_minute", .integer(1...1_000_000), default: "30", help: "Tool runs per minute per client address and per principal."),
        .init("ratelimit.tool_run_burst", .integer(1...1_000_000), default: "10", help: "Tool runs allowed at once."),
        .init("signin.failures_per_account_address", .integer(1...1000), default: "5",
              help: "Failed sign-ins for one account from one address, within the window, before that pair waits."),
        .init("signin.failures_per_address", .integer(1...100_000), default: "30",
              help: "Failed sign-ins from one address over all accounts, within the window, before the address waits."),
        .init("signin.account_failures_before_delay", .integer(1...100_000), default: "10",
              help: "Failed sign-ins for one account from all addresses before addresses that failed must pace their attempts."),
        .init("signin.max_account_delay_seconds", .integer(1...3600), default: "60", help: "Longest pause that pacing asks for."),
        .init("signin.window_minutes", .integer(1...1440), default: "15", help: "How long a failed sign-in counts."),
        .init("metrics.token", .string, default: nil, secret: true, help: "When set, GET /metrics needs `Authorization: Bearer <token>`."),
        .init("metrics.allow_anonymous", .boolean, default: "false",
              help: "Serve GET /metrics without a token even when server.public_url is not a loopback address."),
        .init("tools.search_path", .string, default: ToolRuntimeOptions.defaultSearchPath.joined(separator: ":"), help: "Where command tools' executables are looked up (colon-separated)."),
        .init("tools.allowed_executables", .string, default: ToolRuntimeOptions.defaultAllowedExecutables.joined(separator: ","),
              help: "The executables command tools may run (comma-separated names)."),
        .init("tools.denied_networks", .networks, default: ToolRuntimeOptions.defaultDeniedNetworks.joined(separator: ","),
              help: "Addresses the TCP and HTTP check tools never connect to (comma-separated; default: link-local and cloud metadata)."),
        .init("webhooks.allowed_networks", .networks, default: "",
              help: "Addresses webhooks may be sent to although they are refused by default (loopback, private, link-local, metadata); comma-separated, e.g. 127.0.0.0/8 for a receiver on this host."),
        .init("webhooks.retry_seconds", .secondsList(1...86_400), default: "5,300,1800,7200,18000,36000,36000",
              help: "Waits before each retry of a failed delivery (±20% jitter, never shorter than the receiver's Retry-After)."),
        .init("webhooks.disable_after_hours", .integer(1...720), default: "24",
              help: "A webhook whose deliveries fail this long without one success is disabled (its organization's admins see why)."),
        .init("webhooks.rotation_overlap_hours", .integer(0...720), default: "24",
              help: "After a secret rotation, deliveries are also signed with the previous secret this long."),
        .init("approvals.independence_hours", .integer(0...8760), default: "24",
              help: "Accounts a requester created or reset, or roles they granted, less than this before a request cannot approve its high and destructive runs."),
        .init("audit.retention_days", .integer(1...36_500), default: "365", help: "Audit entries older than this are pruned (the chain stays verifiable)."),
        .init("events.retention_hours", .integer(1...87_600), default: "168",
              help: "Outbox entries every consumer has passed are kept this long, then pruned."),
        .init("jobs.retention_hours", .integer(1...87_600), default: "168", help: "Finished and dead-lettered background jobs are kept this long."),
        .init("jobs.lease_seconds", .integer(5...3600), default: "30",
              help: "A claimed job whose worker stops renewing its lease for this long (a crash) is run again."),
        .init("search.model_dir", .string, default: nil,
              help: "Where the built-in sentence model's files are (default: /usr/lib/portal/models/all-MiniLM-L6-v2, or models/ beside the executable)."),
        .init("search.embedder_fallback", .choice(["none", "hashing"]), default: "none",
              help: "none: without the sentence model's files the portal does not start; hashing: search uses the hashing embedder meanwhile, with a warning."),
        .init("log.level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info", help: "Lowest level logged."),
        .init("log.format", .choice(["json", "text"]), default: "json", help: "json: one JSON object per line; text: for people."),
        .init("bootstrap.admin_username", .string, default: "admin", help: "Name of the administrator created on first start."),
        .init("bootstrap.admin_password", .string, default: nil, secret: true,
              help: "Password of that administrator; generated and printed once when unset."),
    ]

    static let byName: [String: ConfigurationKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
