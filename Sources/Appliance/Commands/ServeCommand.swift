import ArgumentParser
import FoundationEssentials
import Glibc
import Hummingbird
import KV
import Logging
import Metrics
import Prometheus
import Portal
import ServiceLifecycle
import UnixSignals
import Web

/// `portal serve` (the default command): opens storage, creates the first administrator on
/// first start, and serves HTTP until SIGTERM or SIGINT.
///
/// Shutdown order: the HTTP server stops accepting connections and lets in-flight requests
/// finish (up to `server.shutdown_grace_seconds`); then the outbox consumers stop and running
/// background jobs get the same grace to finish (those still running are cancelled and stay
/// due for the next start); then storage is closed, then the process exits 0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the portal (the default command).")

    @OptionGroup var options: ConfigurationOptions
    @Option(name: .customLong("ui-dir"), help: ArgumentHelp("Serve the web client from this directory instead of the copy in the binary (for working on the client: restart to pick up changes).", valueName: "path"))
    var uiDirectory: String?

    func run() async throws {
        let configuration = try options.load()
        LoggingSystem.bootstrap { label in
            LineLogHandler(
                label: label,
                format: LineLogHandler.Format(rawValue: configuration.logFormat) ?? .json,
                logLevel: Logger.Level(rawValue: configuration.logLevel) ?? .info
            )
        }
        let logger = Logger(label: "portal")

        let environment: KV.Environment
        do {
            environment = try Environment(directory: configuration.dataDirectory, options: configuration.storageOptions)
        } catch {
            printError("portal: cannot open the data directory \(configuration.dataDirectory): \(error)")
            throw ExitCode(74)
        }
        let core: PortalCore
        do {
            core = try await PortalCore(environment: environment, rateLimits: configuration.rateLimits, signInPolicy: configuration.signInPolicy,
                                        toolOptions: configuration.toolOptions, sentenceModel: configuration.sentenceModel,
                                        approvalIndependence: configuration.approvalIndependence,
                                        jobLease: configuration.jobLease, shutdownGrace: configuration.shutdownGrace, webhooks: configuration.webhookOptions,
                                        version: PortalVersion.number)
            for warning in try await core.resumeAfterStart(defaultEmbedder: configuration.defaultEmbedder, maintenance: configuration.maintenance) {
                logger.warning("\(warning)")
            }
        } catch {
            environment.close()
            printError("portal: cannot start: \(error)")
            throw ExitCode(74)
        }
        let firstAdministrator = try await core.bootstrap(adminUsername: configuration.adminUsername, adminPassword: configuration.adminPassword)

        // One Prometheus registry for the portal's own metrics and anything reporting
        // through swift-metrics.
        let metrics = PortalMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let options = WebOptions(publicURL: configuration.publicURL, metricsToken: configuration.metricsToken, anonymousMetrics: configuration.anonymousMetrics,
                                 rateLimiting: configuration.rateLimitsEnabled, trustedProxies: configuration.trustedProxies,
                                 minimumFreeBytes: configuration.minimumFreeBytes, version: PortalVersion.number)
        let router = buildRouter(core: core, assets: try uiDirectory.map(AssetCatalog.init(directory:)) ?? AssetCatalog(), metrics: metrics, options: options)
        let app = Application(
            router: router,
            server: configuration.connectionLimits.server(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let url = configuration.publicURL ?? "http://\(configuration.host):\(port)/"
                logger.notice("listening", metadata: ["url": .string(url)])
                Self.printBanner(url: url, firstAdministrator: firstAdministrator)
            },
            logger: logger
        )
        var serviceConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: StorageService(environment: environment, logger: logger)),
                // After storage (so they stop before it closes) and before the server (so
                // they stop after it drained): the jobs runner and the outbox consumers.
            ] + core.services.map { .init(service: $0) } + [
                .init(service: RateLimitFlushService(limiter: core.rateLimiter, logger: logger)),
                .init(service: app),
                // Last in the list, so the first to hear of a graceful shutdown.
                .init(service: ShutdownNotice(grace: configuration.shutdownGrace, logger: logger)),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
        // The server's drain, then the jobs' grace, with room for closing storage.
        serviceConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace * 2 + .seconds(5)
        serviceConfiguration.maximumCancellationDuration = Duration.seconds(5)
        do {
            try await ServiceGroup(configuration: serviceConfiguration).run()
        } catch {
            environment.close()
            printError("portal: stopped on error: \(error)")
            throw ExitCode(1)
        }
        logger.notice("stopped")
    }

    /// Tells the person at the terminal where the portal is and, on first start, how to sign in.
    static func printBanner(url: String, firstAdministrator: Accounts.FirstAdministrator?) {
        var lines = ["", "  Portal is serving on \(url)"]
        if let admin = firstAdministrator {
            lines += [
                "",
                "  First start: an administrator account was created.",
                "    Username: \(admin.username)",
            ]
            if let password = admin.oneTimePassword {
                lines += [
                    "    Password: \(password)",
                    "  This password is shown once and is not stored in clear; change it at first sign-in.",
                ]
            } else {
                lines.append("    Password: the one set in bootstrap.admin_password")
            }
        }
        print(lines.joined(separator: "\n") + "\n")
        fflush(nil)
    }
}

/// Logs the moment a graceful shutdown begins, before the server stops accepting connections.
struct ShutdownNotice: Service {
    let grace: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is failing, not shutting down gracefully
        }
        logger.notice("shutting down: no new connections; in-flight requests may finish", metadata: [
            "grace_seconds": .stringConvertible(grace.components.seconds),
        ])
    }
}

/// Writes the rate limiter's changed buckets every second, and once more after the server
/// has drained (services stop in reverse order), so a restart keeps the budgets.
struct RateLimitFlushService: Service {
    let limiter: RateLimiter
    let logger: Logger

    func run() async throws {
        while true {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            } catch {
                break
            }
            do { try await limiter.flush() } catch { logger.error("rate-limit flush failed", metadata: ["error": .string("\(error)")]) }
        }
        do { try await limiter.flush() } catch { logger.error("rate-limit flush failed", metadata: ["error": .string("\(error)")]) }
    }
}

/// Keeps storage open while the server runs and closes it last on shutdown: services shut
/// down in reverse order, so the HTTP server has drained before this one's shutdown begins.
struct StorageService: Service {
    let environment: KV.Environment
    let logger: Logger

    func run() async throws {
        // Resumes when the group shuts down gracefully, or throws when it is cancelled.
        try? await gracefulShutdown()
        environment.close()
        logger.notice("storage closed")
    }
}
