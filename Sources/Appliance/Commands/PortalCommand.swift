import ArgumentParser

/// `portal`: the self-service operations portal.
struct PortalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal",
        abstract: "Self-service operations portal: catalog, assistant, approvals and audit in one binary.",
        subcommands: [
            ServeCommand.self, ConfigCommand.self, VersionCommand.self,
            BackupCommand.self, RestoreCommand.self, CheckCommand.self, AuditCommand.self, EventsCommand.self, JobsCommand.self,
            BenchCommand.self,
            // The client of a remote portal.
            LoginCommand.self, ToolsCommand.self, RunsCommand.self, ApprovalsCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}

/// `portal version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("portal \(PortalVersion.number)")
    }
}

/// Options every command that reads the configuration takes.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Configuration file (TOML). Default: ./portal.toml, else /etc/portal/portal.toml.")
    var file: String?

    @Option(help: "Address to listen on.")
    var host: String?

    @Option(help: "Port to listen on (0 picks a free port).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory holding the portal's data.")
    var dataDirectory: String?

    /// The flag values, as configuration keys.
    var overrides: [String: String] {
        var values: [String: String] = [:]
        if let host { values["server.host"] = host }
        if let port { values["server.port"] = String(port) }
        if let dataDirectory { values["storage.data_dir"] = dataDirectory }
        return values
    }

    /// Loads the layered configuration, or exits with status 78 (EX_CONFIG) naming every problem.
    func load() throws -> PortalConfiguration {
        do {
            return try ConfigurationLoader.load(file: file, environment: currentEnvironment(), flags: overrides)
        } catch let error as ConfigurationError {
            printError("portal: configuration error:\n" + error.problems.map { "  - \($0)" }.joined(separator: "\n"))
            throw ExitCode(78)
        }
    }
}

/// `portal config`: the effective configuration and where each value came from.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration (secrets redacted) and where each value came from."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        print(try options.load().rendered(), terminator: "")
    }
}
