/// How much harm a tool can do; decides the permission it needs and whether a run waits for
/// an approval.
public enum RiskLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case read, low, medium, high, destructive

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: RiskLevel, b: RiskLevel) -> Bool { a.rank < b.rank }

    /// Read and low-risk tools need `tools:run`; the rest `tools:run-risky`.
    public var defaultPermission: Permission { self <= .low ? .toolsRun : .toolsRunRisky }
}

/// An operations tool as a pack declares it.
///
/// Guarantees (checked by `validate` when a pack is installed): the name is a dotted
/// lowercase identifier, the input schema is a supported object schema, the executor's
/// templates only name inputs the schema declares, and the limits are bounded.
public struct Tool: Codable, Sendable, Equatable {
    /// Unique across packs: `<pack>.<name>`, lowercase letters, digits, `.`, `-`.
    public var name: String
    public var title: String
    public var description: String
    /// The service category the catalog groups by (Compute, Storage, Diagnostics, …).
    public var category: String
    public var inputSchema: JSONAny
    public var risk: RiskLevel
    /// Defaults to the risk's permission.
    public var permission: Permission?
    public var executor: Executor
    public var limits: Limits?

    /// Output and time bounds of one run.
    public struct Limits: Codable, Sendable, Equatable {
        public var timeoutSeconds: Int
        public var maxOutputBytes: Int

        public static let standard = Limits(timeoutSeconds: 30, maxOutputBytes: 256 * 1024)
    }

    public var requiredPermission: Permission { permission ?? risk.defaultPermission }
    public var effectiveLimits: Limits { limits ?? .standard }

    public func schema() throws(SchemaError) -> JSONSchema { try JSONSchema(inputSchema) }

    /// Checks everything that can be checked before the tool runs; throws `PackError`. A
    /// command tool must name one of `allowedExecutables` (`nil`: not checked, for the packs
    /// compiled into the binary, which are checked again when they run).
    func validate(pack: String, allowedExecutables: Set<String>?) throws {
        func fail(_ message: String) -> PackError { PackError("\(pack): tool '\(name)': \(message)") }
        guard name.hasPrefix(pack + "."), (3...128).contains(name.count),
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "-") })
        else { throw fail("names are '<pack>.<name>' in lowercase letters, digits, '.' and '-'") }
        guard !title.isEmpty, !category.isEmpty else { throw fail("title and category are required") }
        let schema: JSONSchema
        do { schema = try self.schema() } catch { throw fail(error.description) }
        guard schema.document["type"] == .string("object") else { throw fail("the input schema must have type object") }
        if let limits {
            guard (1...3600).contains(limits.timeoutSeconds), (1...(16 << 20)).contains(limits.maxOutputBytes) else {
                throw fail("limits: timeoutSeconds 1–3600, maxOutputBytes 1–16 MiB")
            }
        }
        let declared = Set(schema.document["properties"]?.object?.keys.map { $0 } ?? [])
        for template in executor.templates {
            guard template.isWellFormed else { throw fail("malformed template '\(template.text)'") }
            for reference in template.references {
                if case let .input(field) = reference, !declared.contains(field) { throw fail("a template names input '\(field)', which the schema does not declare") }
            }
        }
        // Secrets go only into HTTP headers: never into a URL, a body or a command line
        // (where other users of the host could read them).
        let secretUsers: [Template] = switch executor {
        case let .http(request): [request.url] + (request.body?.templates ?? [])
        default: executor.templates
        }
        for template in secretUsers where template.references.contains(where: { if case .secret = $0 { true } else { false } }) {
            throw fail("secrets may only be used in HTTP headers ('\(template.text)')")
        }
        if case let .mcp(remote) = executor, !RemoteTool.isValidName(remote) {
            throw fail("an MCP tool's name is 1–128 of A-Z a-z 0-9 _ - .")
        }
        if case let .builtin(builtin) = executor, !BuiltinTools.names.contains(builtin) {
            throw fail("there is no builtin tool '\(builtin)'")
        }
        if case let .command(executable, _) = executor {
            guard !executable.isEmpty, !executable.contains("/") else { throw fail("the executable is a name looked up on the tools path, not a path") }
            if let allowedExecutables, !allowedExecutables.contains(executable) {
                throw fail("'\(executable)' is not an allowed executable (tools.allowed_executables: \(allowedExecutables.sorted().joined(separator: ", ")))")
            }
        }
        if case let .http(request) = executor {
            guard ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(request.method) else { throw fail("unsupported HTTP method \(request.method)") }
            let prefix = request.url.text
            guard prefix.hasPrefix("https://") || prefix.hasPrefix("http://") else { throw fail("the URL must start with https:// or http://") }
            // The host is fixed by the pack: a template may not choose where credentials go.
            let afterScheme = prefix.drop { $0 != "/" }.dropFirst(2)
            let authority = afterScheme.prefix { $0 != "/" }
            guard !authority.isEmpty, !authority.contains("{{") else { throw fail("the URL's host must be literal, not a template") }
        }
    }
}

extension Tool {
    /// For a command tool: the inputs on its command line whose value starts with `-`, which
    /// the program could read as an option, unless the schema allows it for that field
    /// (`"x-allow-leading-dash": true`). `nil` when there are none.
    func optionLikeInputs(_ input: JSONAny) -> InputError? {
        guard case let .command(_, arguments) = executor else { return nil }
        let properties = inputSchema["properties"]?.object ?? [:]
        let named = Set(arguments.flatMap(\.templates).flatMap(\.references).compactMap { reference -> String? in
            if case let .input(name) = reference { name } else { nil }
        })
        let problems = named.sorted().compactMap { name -> InputProblem? in
            let optionLike = switch input[name] {
            case let .string(text)?: text.hasPrefix("-")
            case let .number(number)?: number < 0
            default: false
            }
            guard optionLike, properties[name]?["x-allow-leading-dash"] != .bool(true) else { return nil }
            return InputProblem(field: name, message: "must not start with '-'")
        }
        return problems.isEmpty ? nil : InputError(problems: problems)
    }
}

/// How a tool runs.
public enum Executor: Codable, Sendable, Equatable {
    /// A function compiled into the portal, by name (see `BuiltinTools`).
    case builtin(String)
    /// An allow-listed executable found on the tools path, with an argv template: each
    /// element becomes exactly one argument (no shell, no splitting).
    case command(executable: String, arguments: [ArgumentTemplate])
    /// A request to an external API.
    case http(HTTPTemplate)
    /// A tool of the external MCP server registered under the pack's name, by the name the
    /// server gives it (see `MCPServers`).
    case mcp(String)

    var templates: [Template] {
        switch self {
        case .builtin, .mcp: []
        case let .command(_, arguments): arguments.flatMap(\.templates)
        case let .http(request): [request.url] + request.headers.values + (request.body.map(\.templates) ?? [])
        }
    }

    private enum CodingKeys: String, CodingKey { case type, name, executable, arguments, request, tool }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "builtin": self = .builtin(try container.decode(String.self, forKey: .name))
        case "command": self = .command(executable: try container.decode(String.self, forKey: .executable), arguments: try container.decode([ArgumentTemplate].self, forKey: .arguments))
        case "http": self = .http(try container.decode(HTTPTemplate.self, forKey: .request))
        case "mcp": self = .mcp(try container.decode(String.self, forKey: .tool))
        case let other: throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown executor type '\(other)' (builtin, command, http, mcp)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .builtin(name):
            try container.encode("builtin", forKey: .type)
            try container.encode(name, forKey: .name)
        case let .command(executable, arguments):
            try container.encode("command", forKey: .type)
            try container.encode(executable, forKey: .executable)
            try container.encode(arguments, forKey: .arguments)
        case let .http(request):
            try container.encode("http", forKey: .type)
            try container.encode(request, forKey: .request)
        case let .mcp(tool):
            try container.encode("mcp", forKey: .type)
            try container.encode(tool, forKey: .tool)
        }
    }
}

/// One element of an argv template: a template for one argument, or a group of them included
/// only when an optional input is present (`{"if": "limit", "arguments": ["--limit", "{{input.limit}}"]}`).
public enum ArgumentTemplate: Codable, Sendable, Equatable {
    case argument(Template)
    case conditional(input: String, arguments: [Template])

    var templates: [Template] {
        switch self {
        case let .argument(template): [template]
        case let .conditional(input, arguments): [Template(text: "{{input.\(input)}}")] + arguments
        }
    }

    private enum CodingKeys: String, CodingKey { case `if`, arguments }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .argument(Template(text: text))
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self = .conditional(input: try container.decode(String.self, forKey: .if),
                            arguments: try container.decode([String].self, forKey: .arguments).map(Template.init(text:)))
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case let .argument(template):
            var container = encoder.singleValueContainer()
            try container.encode(template.text)
        case let .conditional(input, arguments):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(input, forKey: .if)
            try container.encode(arguments.map(\.text), forKey: .arguments)
        }
    }
}

/// An HTTP tool's request. Header values may name sealed secrets (`{{secret.NAME}}`); the
/// body is JSON whose strings are templates.
public struct HTTPTemplate: Codable, Sendable, Equatable {
    public var method: String
    public var url: Template
    public var headers: [String: Template]
    public var body: JSONTemplate?

    private enum CodingKeys: String, CodingKey { case method, url, headers, body }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        method = try container.decodeIfPresent(String.self, forKey: .method) ?? "GET"
        url = Template(text: try container.decode(String.self, forKey: .url))
        headers = (try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]).mapValues(Template.init(text:))
        body = try container.decodeIfPresent(JSONAny.self, forKey: .body).map(JSONTemplate.init)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(method, forKey: .method)
        try container.encode(url.text, forKey: .url)
        try container.encode(headers.mapValues(\.text), forKey: .headers)
        try container.encodeIfPresent(body?.value, forKey: .body)
    }
}

/// A JSON value whose strings are templates.
public struct JSONTemplate: Sendable, Equatable {
    public let value: JSONAny

    var templates: [Template] {
        func collect(_ value: JSONAny) -> [Template] {
            switch value {
            case let .string(text): [Template(text: text)]
            case let .array(items): items.flatMap(collect)
            case let .object(members): members.values.flatMap(collect)
            default: []
            }
        }
        return collect(value)
    }
}

/// A tool pack: a manifest of tools an administrator installs and enables per organization.
public struct ToolPack: Codable, Sendable, Equatable {
    public var name: String
    public var title: String
    public var version: String
    public var description: String
    public var tools: [Tool]

    /// Whether its tools call an external MCP server (such a pack comes only from `MCPServers`).
    public var isMCPServer: Bool { tools.contains { if case .mcp = $0.executor { true } else { false } } }

    /// Checks every tool; throws `PackError` naming the first problem. Command tools must name
    /// an executable of `allowedExecutables` when it is given.
    /// Names no pack may take: the MCP server lists `portal.run-status` and `workflow.<name>`.
    public static let reservedNames: Set<String> = ["portal", "workflow"]

    public func validate(allowedExecutables: Set<String>? = nil) throws {
        guard (1...32).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw PackError("pack names are 1–32 lowercase letters, digits or '-'")
        }
        guard !Self.reservedNames.contains(name) else { throw PackError("'\(name)' is reserved (the MCP server names its own tools \(name).…)") }
        guard !tools.isEmpty else { throw PackError("\(name): a pack has at least one tool") }
        var seen = Set<String>()
        for tool in tools {
            guard seen.insert(tool.name).inserted else { throw PackError("\(name): tool '\(tool.name)' appears twice") }
            try tool.validate(pack: name, allowedExecutables: allowedExecutables)
        }
    }
}

/// A pack that cannot be installed.
public struct PackError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
