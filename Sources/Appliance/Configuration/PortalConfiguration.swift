import KV
import Portal
import Web

/// The effective configuration, validated: every accessor's value has passed its key's check.
struct PortalConfiguration {
    let values: [String: String]
    let sources: [String: ConfigurationSource]

    private func string(_ name: String) -> String? { values[name] }
    // Values were validated by `ConfigurationLoader`; a failure here is a programming error.
    private func integer(_ name: String) -> Int { Int(values[name]!)! }
    private func boolean(_ name: String) -> Bool { values[name] == "true" }

    var host: String { string("server.host")! }
    var port: Int { integer("server.port") }
    var shutdownGrace: Duration { .seconds(integer("server.shutdown_grace_seconds")) }
    var publicURL: String? { string("server.public_url") }
    var dataDirectory: String { string("storage.data_dir")! }
    var minimumFreeBytes: UInt64 { UInt64(integer("storage.min_free_mb")) << 20 }
    var logLevel: String { string("log.level")! }
    var logFormat: String { string("log.format")! }
    var adminUsername: String { string("bootstrap.admin_username")! }
    var adminPassword: String? { string("bootstrap.admin_password") }
    var metricsToken: String? { string("metrics.token") }
    var anonymousMetrics: Bool { boolean("metrics.allow_anonymous") }

    var trustedProxies: [NetworkRange] { networks("server.trusted_proxies") }

    /// Validated by `ConfigurationLoader`, so every entry parses.
    private func networks(_ name: String) -> [NetworkRange] { Self.list(values[name] ?? "").compactMap(NetworkRange.init) }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }
    }

    var connectionLimits: ConnectionLimits {
        ConnectionLimits(headerTimeout: .seconds(integer("server.header_timeout_seconds")), bodyTimeout: .seconds(integer("server.body_timeout_seconds")),
                         idleTimeout: .seconds(integer("server.idle_timeout_seconds")),
                         maxConnectionsPerAddress: integer("server.max_connections_per_address"), exempt: trustedProxies)
    }

    var signInPolicy: SignInPolicy {
        SignInPolicy(failuresPerAccountAndAddress: integer("signin.failures_per_account_address"), failuresPerAddress: integer("signin.failures_per_address"),
                     accountFailuresBeforeDelay: integer("signin.account_failures_before_delay"),
                     maximumAccountDelaySeconds: integer("signin.max_account_delay_seconds"), window: .seconds(integer("signin.window_minutes") * 60))
    }

    var rateLimitsEnabled: Bool { boolean("ratelimit.enabled") }

    var approvalIndependence: Duration { .seconds(integer("approvals.independence_hours") * 3600) }

    /// The portal's timers: expiry sweeps and retention of audit entries, events and jobs.
    var maintenance: Maintenance {
        Maintenance(expirySweep: .seconds(integer("storage.expiry_sweep_seconds")), auditRetention: .seconds(integer("audit.retention_days") * 86_400),
                    eventRetention: .seconds(integer("events.retention_hours") * 3600), jobRetention: .seconds(integer("jobs.retention_hours") * 3600))
    }

    /// Where the built-in sentence model's files are.
    var sentenceModel: SentenceModel { .at(string("search.model_dir") ?? SentenceModel.defaultDirectory()) }

    /// The sentence model, falling back to hashing only when so configured.
    var defaultEmbedder: DefaultEmbedder { .sentenceModel(fallbackToHashing: string("search.embedder_fallback") == "hashing") }

    var jobLease: Duration { .seconds(integer("jobs.lease_seconds")) }

    var webhookOptions: WebhookOptions {
        var options = WebhookOptions()
        options.allowedNetworks = networks("webhooks.allowed_networks")
        options.retrySchedule = Self.list(values["webhooks.retry_seconds"] ?? "").compactMap(Int.init).map { .seconds($0) }
        options.disableAfter = .seconds(integer("webhooks.disable_after_hours") * 3600)
        options.rotationOverlap = .seconds(integer("webhooks.rotation_overlap_hours") * 3600)
        return options
    }

    var toolOptions: ToolRuntimeOptions {
        ToolRuntimeOptions(
            searchPath: string("tools.search_path")!.split(separator: ":").map(String.init).filter { !$0.isEmpty },
            allowedExecutables: Set(string("tools.allowed_executables")!.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }),
            workRoot: dataDirectory + "/tool-runs", deniedNetworks: networks("tools.denied_networks"))
    }

    var rateLimits: [RateClass: RateLimit] {
        func limit(_ prefix: String) -> RateLimit {
            RateLimit(perMinute: Double(integer("ratelimit.\(prefix)_per_minute")), burst: Double(integer("ratelimit.\(prefix)_burst")))
        }
        return [.signIn: limit("sign_in"), .singleSignOn: limit("sso"), .read: limit("read"), .write: limit("write"), .toolRun: limit("tool_run")]
    }

    var storageOptions: Environment.Options {
        var options = Environment.Options()
        options.mapSize = integer("storage.map_size_mb") << 20
        options.maximumMapSize = integer("storage.max_map_size_mb") << 20
        options.syncOnCommit = boolean("storage.sync")
        return options
    }

    /// TOML with each value's origin as a comment; secrets print as `<redacted>`.
    func rendered() -> String {
        var output = ""
        var section = ""
        for key in ConfigurationKey.all {
            let parts = key.name.split(separator: ".", maxSplits: 1)
            if parts[0] != section {
                section = String(parts[0])
                output += output.isEmpty ? "[\(section)]\n" : "\n[\(section)]\n"
            }
            let source = sources[key.name].map { "  # \($0)" } ?? "  # unset"
            guard let value = values[key.name] else {
                output += "# \(parts[1]) =\(source)\n"
                continue
            }
            let shown: String
            if key.isSecret {
                shown = "\"<redacted>\""
            } else if case .integer = key.kind {
                shown = value
            } else if case .boolean = key.kind {
                shown = value
            } else {
                shown = "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
            }
            output += "\(parts[1]) = \(shown)\(source)\n"
        }
        return output
    }
}
