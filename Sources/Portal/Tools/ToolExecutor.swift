import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Why a tool run did not happen or did not succeed. The web layer maps each to a status.
public enum ToolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No such tool in the caller's organization (also for tools of packs it has not enabled).
    case notFound(String)
    case forbidden(String)
    case invalidInput(InputError)
    case invalidTool(String)
    /// The executor could not run the tool (missing executable, unreachable API, bad template).
    case executionFailed(String)

    public var description: String {
        switch self {
        case let .notFound(name): "no tool '\(name)' in this organization"
        case let .forbidden(reason): reason
        case let .invalidInput(error): "invalid input: \(error.description)"
        case let .invalidTool(reason): "the tool is misconfigured: \(reason)"
        case let .executionFailed(reason): reason
        }
    }
}

/// What a run produced.
public struct ToolOutput: Codable, Sendable, Equatable {
    /// Whether the tool did what it was asked (exit status 0, a 2xx answer, a builtin's success).
    public var succeeded: Bool
    /// The output as text (UTF-8, invalid bytes replaced), at most the tool's limit.
    public var text: String
    /// The output parsed as JSON, when it is JSON.
    public var json: JSONAny?
    /// Standard error, or the reason for a failure.
    public var error: String
    public var exitCode: Int?
    public var truncated: Bool

    /// SHA-256 of the output text, for the audit trail.
    public var digest: String { Crypto.sha256(Array(text.utf8)).hexString }
}

/// Where and with what commands run: the allow-list, the search path, the environment a
/// child may inherit, and the networks tools may not reach. From configuration (`tools.*`).
public struct ToolRuntimeOptions: Sendable {
    public var searchPath: [String]
    /// Executables command tools may run, by name. The file found on the search path must be
    /// one of them after symbolic links are resolved too, so replacing an allowed name with a
    /// link to another program does not let that program run.
    public var allowedExecutables: Set<String>
    /// Variables copied from the portal's own environment into every command's (for example
    /// `OCI_CLI_CONFIG_FILE`); nothing else is inherited. Which cloud identity a command acts
    /// as is not among them (not `OCI_CLI_PROFILE`, not `OCI_CLI_AUTH`, with which an instance
    /// principal would act for every organization): see `organizationIdentity`; listing them
    /// here has no effect, the organization's identity is set after.
    public var inheritedEnvironment: [String]
    /// Each run gets a fresh directory under this one, removed after the run.
    public var workRoot: String
    /// Addresses the network tools (`host.tcp-check`, `host.http-check`) refuse to connect to,
    /// checked on the resolved address before connecting (`tools.denied_networks`).
    public var deniedNetworks: [NetworkRange]

    /// What the shipped packs run; the configuration's defaults (`tools.*`) are these.
    public static let defaultAllowedExecutables = ["oci", "df", "ps", "systemctl", "uptime", "ip", "ss"]
    public static let defaultSearchPath = ["/usr/local/bin", "/usr/bin", "/bin"]
    /// Link-local addresses (where every major cloud serves instance metadata and
    /// credentials: 169.254.169.254, AWS's fd00:ec2::254) and the other clouds' metadata and
    /// platform addresses (Alibaba 100.100.100.200, Azure 168.63.129.16).
    public static let defaultDeniedNetworks = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32"]
    /// Programs that act as a cloud identity named in their environment, and the variables
    /// that name it: every run of them — whichever pack runs them — acts as the organization's
    /// own `cloudProfile`, with the profile's own authentication, and does not run without one.
    static let organizationIdentity: [String: (profile: String, authentication: String)] = ["oci": ("OCI_CLI_PROFILE", "OCI_CLI_AUTH")]

    public init(searchPath: [String] = Self.defaultSearchPath, allowedExecutables: Set<String> = Set(Self.defaultAllowedExecutables),
                inheritedEnvironment: [String] = ["OCI_CLI_CONFIG_FILE", "OCI_CLI_REGION"], workRoot: String,
                deniedNetworks: [NetworkRange] = Self.defaultDeniedNetworks.compactMap(NetworkRange.init)) {
        self.searchPath = searchPath
        self.allowedExecutables = allowedExecutables
        self.inheritedEnvironment = inheritedEnvironment
        self.workRoot = workRoot
        self.deniedNetworks = deniedNetworks
    }

    /// What a child process starts with: the tools path, a UTF-8 C locale, UTC, and the
    /// variables of `inheritedEnvironment` the portal has; nothing else.
    func childEnvironment() -> [String: String] {
        var environment = ["PATH": searchPath.joined(separator: ":"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"]
        for name in inheritedEnvironment { if let value = getenv(name) { environment[name] = String(cString: value) } }
        return environment
    }

    /// The allowed executable `name` on the tools path, or `ToolError.executionFailed` saying
    /// why not: not allowed, not found, or a link to a program that is not allowed.
    func resolveExecutable(_ name: String) throws(ToolError) -> String {
        guard allowedExecutables.contains(name) else {
            throw .executionFailed("'\(name)' is not an allowed executable (tools.allowed_executables)")
        }
        guard let path = searchPath.map({ $0 + "/" + name }).first(where: { access($0, X_OK) == 0 }) else {
            throw .executionFailed("'\(name)' was not found on the tools path \(searchPath.joined(separator: ":"))")
        }
        guard let resolved = realpath(path, nil) else { throw .executionFailed("cannot resolve \(path): \(String(cString: strerror(errno)))") }
        defer { free(resolved) }
        let target = String(cString: resolved)
        let targetName = String(target.split(separator: "/").last ?? "")
        guard allowedExecutables.contains(targetName) else {
            throw .executionFailed("\(path) leads to \(target), and '\(targetName)' is not an allowed executable (tools.allowed_executables)")
        }
        return target
    }
}

/// Runs a validated tool with its executor. Templates see only the validated input, the
/// caller's organization and (HTTP headers) sealed secrets.
struct ToolExecutor: Sendable {
    let options: ToolRuntimeOptions
    let secrets: Secrets
    let http: OutboundHTTP
    let processes = ProcessRunner()
    let builtins: BuiltinTools
    let mcpServers: MCPServers

    func execute(_ tool: Tool, input: JSONAny, organization: Organization, runID: UUID) async -> ToolOutput {
        do {
            switch tool.executor {
            case let .builtin(name):
                return try await builtins.run(name, input: input, limits: tool.effectiveLimits)
            case let .command(executable, arguments):
                return try await runCommand(tool, executable: executable, arguments: arguments, input: input, organization: organization, runID: runID)
            case let .http(request):
                return try await runHTTP(tool, request: request, input: input, organization: organization)
            case let .mcp(remote):
                return await mcpServers.call(pack: String(tool.name.prefix { $0 != "." }), tool: remote, arguments: input, limits: tool.effectiveLimits)
            }
        } catch let error as ToolError {
            return ToolOutput(succeeded: false, text: "", json: nil, error: error.description, exitCode: nil, truncated: false)
        } catch {
            return ToolOutput(succeeded: false, text: "", json: nil, error: "\(error)", exitCode: nil, truncated: false)
        }
    }

    /// The value of one reference, as text.
    func lookup(_ reference: Template.Reference, input: JSONAny, organization: Organization, allowSecrets: Bool) throws -> String {
        switch reference {
        case let .input(name):
            switch input[name] {
            case let .string(text): return text
            case let .bool(flag): return flag ? "true" : "false"
            case let .number(number): return input[name]?.integer.map(String.init) ?? String(number)
            case .none, .null?: throw ToolError.invalidInput(InputError(problems: [InputProblem(field: name, message: "is required by this tool")]))
            case .array?, .object?: return String(decoding: input[name]!.canonicalJSON, as: UTF8.self)
            }
        case .organizationSlug: return organization.slug
        case .cloudScope:
            guard !organization.cloudScope.isEmpty else { throw ToolError.executionFailed("the organization '\(organization.slug)' has no cloud scope; an administrator sets it on the Organizations page") }
            return organization.cloudScope
        case .cloudProfile:
            guard let profile = organization.cloudProfile, !profile.isEmpty else {
                throw ToolError.executionFailed("the organization '\(organization.slug)' has no cloud profile of its own; a system administrator sets it on the Organizations page")
            }
            return profile
        case let .organizationSetting(key):
            guard let value = organization.settings[key] else { throw ToolError.executionFailed("the organization has no setting '\(key)'") }
            return value
        case let .secret(name):
            guard allowSecrets else { throw ToolError.invalidTool("secrets are only for HTTP headers") }
            guard let value = try secrets.get(OrganizationSecrets.storageName(name, of: organization.id)) else {
                throw ToolError.executionFailed("the secret '\(name)' is not set for the organization '\(organization.slug)'")
            }
            return value
        }
    }

    private func runCommand(_ tool: Tool, executable: String, arguments: [ArgumentTemplate], input: JSONAny, organization: Organization,
                            runID: UUID) async throws -> ToolOutput {
        let path = try options.resolveExecutable(executable)
        // Option-like values were refused when the run was requested (`Tool.optionLikeInputs`);
        // this guards what rendering makes of them.
        let properties = tool.inputSchema["properties"]?.object ?? [:]
        // An argument that starts with an input's value must not start with "-" because of it
        // ("{{input.a}}-x" with an empty `a` is an option too), unless the schema allows it.
        func render(_ template: Template) throws -> String {
            let argument = try template.render { try lookup($0, input: input, organization: organization, allowSecrets: false) }
            if argument.hasPrefix("-"), case let .reference(.input(name))? = template.pieces?.first, properties[name]?["x-allow-leading-dash"] != .bool(true) {
                throw ToolError.invalidInput(InputError(problems: [InputProblem(field: name, message: "must not make an argument start with '-'")]))
            }
            return argument
        }
        var argv: [String] = []
        for argument in arguments {
            switch argument {
            case let .argument(template):
                argv.append(try render(template))
            case let .conditional(name, templates):
                guard let value = input[name], value != .null, value != .bool(false) else { continue }
                for template in templates { argv.append(try render(template)) }
            }
        }
        var environment = options.childEnvironment()
        if let identity = ToolRuntimeOptions.organizationIdentity[executable] {
            environment[identity.profile] = try lookup(.cloudProfile, input: input, organization: organization, allowSecrets: false)
            environment[identity.authentication] = "api_key"
        }
        let directory = options.workRoot + "/" + runID.uuidString.lowercased()
        guard mkdir(options.workRoot, 0o700) == 0 || errno == EEXIST, mkdir(directory, 0o700) == 0 else {
            throw ToolError.executionFailed("cannot create the run's working directory: \(String(cString: strerror(errno)))")
        }
        defer { Self.removeTree(directory) }
        environment["HOME"] = directory
        let limits = tool.effectiveLimits
        let outcome = try await processes.run(executable: path, arguments: argv, environment: environment, directory: directory,
                                              timeout: .seconds(limits.timeoutSeconds), maxOutputBytes: limits.maxOutputBytes)
        let text = String(decoding: outcome.stdout, as: UTF8.self)
        var error = String(decoding: outcome.stderr.suffix(4096), as: UTF8.self)
        if outcome.timedOut { error = "timed out after \(limits.timeoutSeconds) s" + (error.isEmpty ? "" : "; " + error) }
        if let signal = outcome.signal, !outcome.timedOut, !outcome.truncated { error = "ended by signal \(signal)" + (error.isEmpty ? "" : "; " + error) }
        if outcome.truncated { error = "output exceeded \(limits.maxOutputBytes) bytes and was cut" + (error.isEmpty ? "" : "; " + error) }
        let succeeded = outcome.exitCode == 0 && !outcome.timedOut
        return ToolOutput(succeeded: succeeded, text: text, json: JSONAny(json: outcome.stdout), error: error,
                          exitCode: outcome.exitCode.map(Int.init), truncated: outcome.truncated)
    }

    private func runHTTP(_ tool: Tool, request: HTTPTemplate, input: JSONAny, organization: Organization) async throws -> ToolOutput {
        // Every value in a URL is percent-encoded, so that no input, setting or scope can add a
        // path, a query or a host, or climb out of its segment (`.` and `..` too).
        let url = try request.url.render { reference in
            OutboundHTTP.pathSegmentEncode(try lookup(reference, input: input, organization: organization, allowSecrets: false))
        }
        var headers: [(String, String)] = []
        var secretValues: [String] = []
        for (name, template) in request.headers.sorted(by: { $0.key < $1.key }) {
            headers.append((name, try template.render { reference in
                let value = try lookup(reference, input: input, organization: organization, allowSecrets: true)
                if case .secret = reference { secretValues.append(value) }
                return value
            }))
        }
        var body: [UInt8]?
        if let template = request.body {
            func fill(_ value: JSONAny) throws -> JSONAny {
                switch value {
                case let .string(text): .string(try Template(text: text).render { try lookup($0, input: input, organization: organization, allowSecrets: false) })
                case let .array(items): .array(try items.map(fill))
                case let .object(members): .object(try members.mapValues(fill))
                default: value
                }
            }
            body = try fill(template.value).canonicalJSON
            headers.append(("Content-Type", "application/json"))
        }
        var client = http
        client.timeout = .seconds(tool.effectiveLimits.timeoutSeconds)
        client.maximumBodyBytes = tool.effectiveLimits.maxOutputBytes
        let response: OutboundHTTP.Response
        do {
            response = try await client.send(url: url, method: request.method, headers: headers, body: body)
        } catch {
            throw ToolError.executionFailed(Self.scrub(error.description, secretValues))
        }
        let text = Self.scrub(String(decoding: response.body, as: UTF8.self), secretValues)
        let succeeded = (200..<300).contains(response.status)
        var error = succeeded ? "" : "the API answered \(response.status)"
        if (300..<400).contains(response.status) { error = "the API answered with a redirect (\(response.status)), which tools do not follow" }
        return ToolOutput(succeeded: succeeded, text: text, json: JSONAny(json: Array(text.utf8)), error: error, exitCode: response.status, truncated: false)
    }

    /// Removes any secret value an API echoed back.
    static func scrub(_ text: String, _ secrets: [String]) -> String {
        secrets.filter { $0.count >= 4 }.reduce(text) { $0.replacing($1, with: "[secret]") }
    }

    static func removeTree(_ path: String) {
        _ = try? FileManager.default.removeItem(atPath: path)
    }
}
