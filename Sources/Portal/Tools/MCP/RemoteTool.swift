public import FoundationEssentials

/// A tool as an external MCP server lists it (`tools/list`), kept whole so that a later
/// listing can be compared with the one an administrator reviewed.
public struct RemoteTool: Codable, Sendable, Equatable {
    public var name: String
    public var title: String?
    public var description: String?
    public var inputSchema: JSONAny
    public var outputSchema: JSONAny?
    public var readOnlyHint: Bool?
    public var destructiveHint: Bool?
    public var idempotentHint: Bool?

    /// MCP's tool names: 1–128 of `A-Z a-z 0-9 _ - .`.
    static func isValidName(_ name: String) -> Bool {
        (1...128).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
    }

    init?(_ listed: JSONAny) {
        guard let name = listed["name"]?.string, Self.isValidName(name), let schema = listed["inputSchema"], schema.object != nil else { return nil }
        self.name = name
        let annotations = listed["annotations"]
        title = listed["title"]?.string ?? annotations?["title"]?.string
        description = listed["description"]?.string
        inputSchema = schema
        outputSchema = listed["outputSchema"].flatMap { $0.object != nil ? $0 : nil }
        readOnlyHint = annotations?["readOnlyHint"]?.bool
        destructiveHint = annotations?["destructiveHint"]?.bool
        idempotentHint = annotations?["idempotentHint"]?.bool
    }

    /// Its title, or its name in words (`create_ticket` → "Create ticket").
    public var displayTitle: String {
        if let title, !title.isEmpty { return title }
        let words = name.map { $0 == "_" || $0 == "-" || $0 == "." ? " " : $0 }
        return String(words.prefix(1)).uppercased() + String(words.dropFirst())
    }

    /// Whether the server says the tool changes nothing.
    public var isReadOnly: Bool { readOnlyHint == true }

    /// The lowest risk an administrator may give it: `read` for a tool its server marks
    /// read-only, `medium` for any other (a tool that may change something is never run
    /// without the risky-run permission).
    public var riskFloor: RiskLevel { isReadOnly ? .read : .medium }

    /// The risk suggested from the annotations (MCP's defaults: a tool not marked read-only
    /// is assumed destructive unless it says otherwise): read-only → `read`, marked
    /// non-destructive → `medium`, otherwise `high`.
    public var suggestedRisk: RiskLevel {
        if isReadOnly { return .read }
        return destructiveHint == false ? .medium : .high
    }

    /// What differs from `earlier` (field names), empty when nothing does.
    func differences(from earlier: RemoteTool) -> [String] {
        var fields: [String] = []
        if title != earlier.title { fields.append("title") }
        if description != earlier.description { fields.append("description") }
        if inputSchema != earlier.inputSchema { fields.append("inputSchema") }
        if outputSchema != earlier.outputSchema { fields.append("outputSchema") }
        if readOnlyHint != earlier.readOnlyHint || destructiveHint != earlier.destructiveHint || idempotentHint != earlier.idempotentHint {
            fields.append("annotations")
        }
        return fields
    }

    /// The catalog name of this tool in pack `pack`: lowercase, `_` and other characters
    /// the catalog does not allow as `-`.
    public func catalogName(in pack: String) -> String {
        let local = String(name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "-" })
        return String((pack + "." + local).prefix(128))
    }

    /// The input schema as the catalog checks it: what the portal's validator supports is
    /// kept and enforced before a call; what it does not (`$ref`, `allOf`, unknown formats, …)
    /// is left to the server, which validates its own input: such a part accepts any value
    /// here and is marked `x-mcp-unchecked`. `anyOf`/`oneOf` of one type and `null` (how
    /// optional fields are usually written) becomes that type or null.
    public var catalogInputSchema: JSONAny {
        var schema = Self.checkable(inputSchema)
        if case var .object(members) = schema {
            members["type"] = .string("object")
            schema = .object(members)
        }
        if (try? JSONSchema(schema)) != nil { return schema }
        return .object(["type": .string("object"), "x-mcp-unchecked": .bool(true)])
    }

    private static func checkable(_ schema: JSONAny) -> JSONAny {
        guard var members = schema.object else { return .object([:]) }
        for key in ["anyOf", "oneOf"] {
            guard let options = members[key]?.array, options.count == 2,
                  let nullIndex = options.firstIndex(where: { $0["type"]?.string == "null" && $0.object?.count == 1 }),
                  case var .object(other) = options[1 - nullIndex], let type = other["type"]?.string
            else { continue }
            members[key] = nil
            other["type"] = .array([.string(type), .string("null")])
            for (name, value) in other where members[name] == nil { members[name] = value }
        }
        var result: [String: JSONAny] = [:]
        for (key, value) in members {
            switch key {
            case "properties":
                result[key] = .object((value.object ?? [:]).mapValues(checkable))
            case "items":
                result[key] = checkable(value)
            case "additionalProperties":
                result[key] = value.bool != nil ? value : checkable(value)
            case "format":
                if JSONSchema.formats.contains(value.string ?? "") { result[key] = value } else { result["x-format"] = value }
            case "pattern":
                if let text = value.string, (try? Regex(text)) != nil { result[key] = value } else { result["x-pattern"] = value }
            case "$defs", "definitions":
                continue
            case _ where JSONSchema.validationKeywords.contains(key) || JSONSchema.annotationKeywords.contains(key) || key.hasPrefix("x-"):
                result[key] = value
            default:
                // A keyword the portal does not check: the server checks this part.
                return .object(members.filter { JSONSchema.annotationKeywords.contains($0.key) }.merging(["x-mcp-unchecked": .bool(true)]) { $1 })
            }
        }
        return .object(result)
    }
}
