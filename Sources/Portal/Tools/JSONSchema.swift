/// A tool's input schema: the subset of JSON Schema (2020-12) that forms and command lines
/// need, checked strictly.
///
/// Guarantees: a schema using a keyword that would change validation and is not supported
/// here (`$ref`, `oneOf`, `if`, …) is refused when the tool is loaded, never silently ignored;
/// validation reports every problem with the path of the field (`port`, `tags[2]`); `prepare`
/// fills `default`s, so executors see complete input.
///
/// Supported: `type` (one or a list), `properties`, `required`, `additionalProperties`
/// (boolean or schema), `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum`, `minLength`, `maxLength`, `pattern` (unanchored, as JSON Schema says),
/// `format` (`hostname`, `ipv4`, `ipv6`, `host`, `uri`, `ocid`), `items`, `minItems`,
/// `maxItems`, `uniqueItems`, `default`; annotations (`title`, `description`, `examples`,
/// `$schema`, `x-…`) are kept for forms.
public struct JSONSchema: Sendable, Equatable {
    public let document: JSONAny

    static let validationKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "enum", "const", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "format", "items",
        "minItems", "maxItems", "uniqueItems", "default",
    ]
    static let annotationKeywords: Set<String> = ["title", "description", "examples", "$schema", "$comment", "readOnly", "writeOnly"]
    static let types: Set<String> = ["string", "integer", "number", "boolean", "array", "object", "null"]
    static let formats: Set<String> = ["hostname", "ipv4", "ipv6", "host", "uri", "ocid"]

    public init(_ document: JSONAny) throws(SchemaError) {
        try Self.check(document, at: "")
        self.document = document
    }

    /// Checks that `schema` only uses what this validator understands, recursively.
    private static func check(_ schema: JSONAny, at path: String) throws(SchemaError) {
        guard let object = schema.object else { throw SchemaError("\(path.isEmpty ? "the schema" : path) must be an object") }
        for key in object.keys where !validationKeywords.contains(key) && !annotationKeywords.contains(key) && !key.hasPrefix("x-") {
            throw SchemaError("\(path.isEmpty ? "schema" : path): keyword '\(key)' is not supported")
        }
        if let type = object["type"] {
            guard let names = type.strings, !names.isEmpty, names.allSatisfy(types.contains) else { throw SchemaError("\(path): 'type' must name JSON types") }
        }
        if let properties = object["properties"] {
            guard let properties = properties.object else { throw SchemaError("\(path): 'properties' must be an object") }
            for (name, property) in properties { try check(property, at: path.isEmpty ? name : "\(path).\(name)") }
        }
        if let required = object["required"], required.strings == nil || required.array == nil {
            throw SchemaError("\(path): 'required' must be a list of names")
        }
        if let additional = object["additionalProperties"], additional.bool == nil { try check(additional, at: "\(path).additionalProperties") }
        if let items = object["items"] { try check(items, at: "\(path)[]") }
        for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] where object[key] != nil && object[key]?.number == nil {
            throw SchemaError("\(path): '\(key)' must be a number")
        }
        for key in ["minLength", "maxLength", "minItems", "maxItems"] where object[key] != nil && (object[key]?.integer ?? -1) < 0 {
            throw SchemaError("\(path): '\(key)' must be a non-negative integer")
        }
        if let pattern = object["pattern"] {
            guard let text = pattern.string, (try? Regex(text)) != nil else { throw SchemaError("\(path): 'pattern' is not a valid regular expression") }
        }
        if let format = object["format"], !formats.contains(format.string ?? "") {
            throw SchemaError("\(path): format '\(format.string ?? "?")' is not supported (\(formats.sorted().joined(separator: ", ")))")
        }
        if let values = object["enum"], values.array?.isEmpty != false { throw SchemaError("\(path): 'enum' must be a non-empty list") }
    }

    /// Every way `value` breaks the schema; empty when it is valid.
    public func problems(in value: JSONAny) -> [InputProblem] {
        var problems: [InputProblem] = []
        Self.validate(value, against: document, at: "", into: &problems)
        return problems
    }

    /// The input with defaults filled in, or `InputError` listing every problem.
    public func prepare(_ input: JSONAny) throws(InputError) -> JSONAny {
        let filled = Self.fillDefaults(input, schema: document)
        let problems = problems(in: filled)
        guard problems.isEmpty else { throw InputError(problems: problems) }
        return filled
    }

    private static func fillDefaults(_ value: JSONAny, schema: JSONAny) -> JSONAny {
        guard var object = value.object, let properties = schema["properties"]?.object else { return value }
        for (name, property) in properties {
            if let present = object[name] {
                object[name] = fillDefaults(present, schema: property)
            } else if let fallback = property["default"] {
                object[name] = fallback
            }
        }
        return .object(object)
    }

    private static func validate(_ value: JSONAny, against schema: JSONAny, at path: String, into problems: inout [InputProblem]) {
        func fail(_ message: String) { problems.append(InputProblem(field: path.isEmpty ? "(input)" : path, message: message)) }
        if let names = schema["type"]?.strings, !names.contains(where: { value.isOfType($0) }) {
            return fail("must be \(names.joined(separator: " or "))")
        }
        if let allowed = schema["enum"]?.array, !allowed.contains(value) {
            return fail("must be one of \(allowed.map { String(decoding: $0.canonicalJSON, as: UTF8.self) }.joined(separator: ", "))")
        }
        if let constant = schema["const"], constant != value { return fail("must be \(String(decoding: constant.canonicalJSON, as: UTF8.self))") }
        switch value {
        case let .number(number):
            if let minimum = schema["minimum"]?.number, number < minimum { fail("must be at least \(minimum.formatted)") }
            if let maximum = schema["maximum"]?.number, number > maximum { fail("must be at most \(maximum.formatted)") }
            if let minimum = schema["exclusiveMinimum"]?.number, number <= minimum { fail("must be more than \(minimum.formatted)") }
            if let maximum = schema["exclusiveMaximum"]?.number, number >= maximum { fail("must be less than \(maximum.formatted)") }
        case let .string(text):
            let length = text.unicodeScalars.count
            if let minimum = schema["minLength"]?.integer, length < minimum { fail(minimum == 1 ? "must not be empty" : "must be at least \(minimum) characters") }
            if let maximum = schema["maxLength"]?.integer, length > maximum { fail("must be at most \(maximum) characters") }
            if let pattern = schema["pattern"]?.string, let regex = try? Regex(pattern), (try? regex.firstMatch(in: text)) == nil {
                fail("must match \(pattern)")
            }
            if let format = schema["format"]?.string, !Self.matches(text, format: format) { fail("must be a valid \(format)") }
        case let .array(items):
            if let minimum = schema["minItems"]?.integer, items.count < minimum { fail("must have at least \(minimum) items") }
            if let maximum = schema["maxItems"]?.integer, items.count > maximum { fail("must have at most \(maximum) items") }
            if schema["uniqueItems"]?.bool == true, Set(items.map(\.canonicalJSON)).count != items.count { fail("must not repeat items") }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { validate(item, against: itemSchema, at: "\(path)[\(index)]", into: &problems) }
            }
        case let .object(members):
            let properties = schema["properties"]?.object ?? [:]
            for name in schema["required"]?.strings ?? [] where members[name] == nil || members[name] == .null {
                problems.append(InputProblem(field: path.isEmpty ? name : "\(path).\(name)", message: "is required"))
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let memberPath = path.isEmpty ? name : "\(path).\(name)"
                if let property = properties[name] {
                    validate(member, against: property, at: memberPath, into: &problems)
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append(InputProblem(field: memberPath, message: "is not a known field"))
                    } else if additional.object != nil {
                        validate(member, against: additional, at: memberPath, into: &problems)
                    }
                }
            }
        default:
            break
        }
    }

    static func matches(_ text: String, format: String) -> Bool {
        switch format {
        case "hostname": isHostname(text)
        case "ipv4": isIPv4(text)
        case "ipv6": isIPv6(text)
        case "host": isHostname(text) || isIPv4(text) || isIPv6(text)
        case "uri":
            (text.hasPrefix("http://") || text.hasPrefix("https://")) && text.count <= 2048
                && !text.contains(where: { $0.isWhitespace }) && text.split(separator: "/", omittingEmptySubsequences: false).count >= 3
                && !text.split(separator: "/", omittingEmptySubsequences: false)[2].isEmpty
        case "ocid":
            // ocid1.<resource type>.<realm>.[region][.future use].<unique id>
            text.hasPrefix("ocid1.") && text.count <= 255 && text.split(separator: ".", omittingEmptySubsequences: false).count >= 5
                && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
        default: false
        }
    }

    static func isHostname(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        // A numeric last label is an address, not a name (no top-level domain is numeric).
        guard let last = labels.last, !last.allSatisfy(\.isNumber) else { return false }
        return !text.isEmpty && text.count <= 253 && labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && (part.count == 1 || part.first != "0") && Int(part)! <= 255
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.count <= 45, text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        let compressed = text.split(separator: "::", omittingEmptySubsequences: false)
        guard compressed.count <= 2 else { return false }
        let groups = text.split(separator: ":", omittingEmptySubsequences: true)
        let last = groups.last.map(String.init) ?? ""
        let embeddedIPv4 = last.contains(".")
        if embeddedIPv4 && !isIPv4(last) { return false }
        let hexGroups = embeddedIPv4 ? groups.dropLast() : groups[...]
        guard hexGroups.allSatisfy({ (1...4).contains($0.count) && !$0.contains(".") }) else { return false }
        let count = hexGroups.count + (embeddedIPv4 ? 2 : 0)
        return compressed.count == 2 ? count < 8 : count == 8
    }
}

extension JSONAny {
    func isOfType(_ name: String) -> Bool {
        switch (name, self) {
        case ("string", .string), ("boolean", .bool), ("array", .array), ("object", .object), ("null", .null), ("number", .number): true
        case ("integer", .number): integer != nil
        default: false
        }
    }
}

private extension Double {
    var formatted: String { rounded() == self && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}

/// A schema that cannot be used (a pack's mistake, reported when it is installed).
public struct SchemaError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One field's problem with a tool's input.
public struct InputProblem: Codable, Equatable, Sendable {
    public let field: String
    public let message: String
}

/// Input that does not match the tool's schema: every problem, each naming its field.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible {
    public let problems: [InputProblem]
    public var description: String { problems.map { "\($0.field) \($0.message)" }.joined(separator: "; ") }
}
