public import Portal

/// An example value for a JSON Schema, for the reference page and the document's `example`
/// members: every property of an object (required or not), one item of an array, the first
/// of an enum, a value of the right format for strings. It follows the schema, so a client
/// generator or a fuzzer that reads it gets a valid value.
enum Example {
    /// - Parameter components: the document's named schemas, which `$ref`s point to.
    static func of(_ schema: JSONAny, components: [String: JSONAny] = [:], depth: Int = 0) -> JSONAny {
        guard case let .object(members) = schema, depth < 12 else { return .object([:]) }
        if case let .string(reference)? = members["$ref"], let target = components[String(reference.split(separator: "/").last ?? "")] {
            return of(target, components: components, depth: depth + 1)
        }
        if case let .array(values)? = members["enum"], let first = values.first { return first }
        if let value = members["const"] { return value }
        for combinator in ["oneOf", "anyOf", "allOf"] {
            if case let .array(options)? = members[combinator], let first = options.first(where: { !isNull($0) }) { return of(first, components: components, depth: depth + 1) }
        }
        switch typeName(members["type"]) {
        case "object":
            guard case let .object(properties)? = members["properties"] else { return .object([:]) }
            return .object(properties.mapValues { of($0, components: components, depth: depth + 1) })
        case "array":
            guard let items = members["items"] else { return .array([]) }
            return .array([of(items, components: components, depth: depth + 1)])
        case "string": return .string(string(members))
        case "integer":
            if case let .number(minimum)? = members["minimum"] { return .number(max(minimum, 1).rounded(.up)) }
            return .number(1)
        case "number": return .number(1.5)
        case "boolean": return .bool(true)
        case "null": return .null
        default: return .object([:])
        }
    }

    /// `type` may be a name or a list of names (`["string", "null"]`): the first that is not null.
    static func typeName(_ type: JSONAny?) -> String? {
        switch type {
        case let .string(name): name
        case let .array(names): names.compactMap { if case let .string(name) = $0, name != "null" { name } else { nil } }.first
        default: nil
        }
    }

    static func isNull(_ schema: JSONAny) -> Bool {
        if case let .object(members) = schema, case .string("null")? = members["type"] { return true }
        return false
    }

    static func string(_ members: [String: JSONAny]) -> String {
        let format: String? = if case let .string(format)? = members["format"] { format } else { nil }
        let minimum: Int = if case let .number(length)? = members["minLength"] { Int(length) } else { 0 }
        let text: String = switch format {
        case "date-time": "2026-12-01T09:30:00Z"
        case "uuid": "0192f4a1-7c3e-7d2a-9b1e-3f5a6c7d8e9f"
        case "uri": "https://hooks.example.com/portal"
        case "email": "ada@example.com"
        default: "text"
        }
        return text.count >= minimum ? text : text + String(repeating: "x", count: minimum - text.count)
    }
}
