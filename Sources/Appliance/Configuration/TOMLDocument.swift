/// Parses the subset of TOML the portal's configuration file uses: comments, `[table]` headers,
/// and `key = value` pairs whose value is a basic or literal string, an integer, a float or a
/// boolean. Anything else (arrays, inline tables, multi-line strings, dates) is refused with its
/// line number rather than misread.
struct TOMLDocument {
    /// `section.key` → the value as text (strings unquoted and unescaped).
    private(set) var values: [String: String] = [:]
    /// `section.key` → the line it was set on, for messages.
    private(set) var lines: [String: Int] = [:]

    struct ParseError: Error, Equatable {
        let line: Int
        let message: String
    }

    init(parsing text: String) throws(ParseError) {
        var table = ""
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = Self.strippingComment(rawLine).trimmed
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[["), line.count > 2 else {
                    throw ParseError(line: number, message: "expected a table header like [server]")
                }
                table = String(line.dropFirst().dropLast()).trimmed
                guard Self.isBareKey(table) else { throw ParseError(line: number, message: "invalid table name \"\(table)\"") }
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: number, message: "expected key = value")
            }
            let key = String(line[..<equals]).trimmed
            guard Self.isBareKey(key) else { throw ParseError(line: number, message: "invalid key \"\(key)\"") }
            let value = try Self.parseValue(String(line[line.index(after: equals)...]).trimmed, line: number)
            let fullKey = table.isEmpty ? key : "\(table).\(key)"
            guard values[fullKey] == nil else { throw ParseError(line: number, message: "\(fullKey) is set twice") }
            values[fullKey] = value
            lines[fullKey] = number
        }
    }

    private static func isBareKey(_ key: Substring) -> Bool {
        !key.isEmpty && key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
    }

    private static func isBareKey(_ key: String) -> Bool { isBareKey(Substring(key)) }

    /// Removes a `#` comment that is not inside a string.
    private static func strippingComment(_ line: Substring) -> Substring {
        var quote: Character?
        var escaped = false
        for index in line.indices {
            let character = line[index]
            if let open = quote {
                if escaped { escaped = false } else if character == "\\" && open == "\"" { escaped = true } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return line[..<index]
            }
        }
        return line
    }

    private static func parseValue(_ text: String, line: Int) throws(ParseError) -> String {
        if text.hasPrefix("\"\"\"") || text.hasPrefix("'''") {
            throw ParseError(line: line, message: "multi-line strings are not supported")
        }
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw ParseError(line: line, message: "unterminated string") }
            return try unescape(String(text.dropFirst().dropLast()), line: line)
        }
        if text.hasPrefix("'") {
            guard text.count >= 2, text.hasSuffix("'") else { throw ParseError(line: line, message: "unterminated string") }
            let inner = text.dropFirst().dropLast()
            guard !inner.contains("'") else { throw ParseError(line: line, message: "a literal string cannot contain '") }
            return String(inner)
        }
        if text == "true" || text == "false" { return text }
        let digits = text.replacing("_", with: "")
        if Int(digits) != nil || (Double(digits) != nil && digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })) {
            return digits
        }
        throw ParseError(line: line, message: "unsupported value \(text) (quote strings: key = \"value\")")
    }

    private static func unescape(_ text: String, line: Int) throws(ParseError) -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "\\" else {
                guard character != "\"" else { throw ParseError(line: line, message: "unescaped \" inside a string") }
                result.append(character)
                continue
            }
            switch iterator.next() {
            case "\"": result.append("\"")
            case "\\": result.append("\\")
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "u":
                var hex = ""
                for _ in 0..<4 { if let digit = iterator.next() { hex.append(digit) } }
                guard hex.count == 4, let scalarValue = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(scalarValue) else {
                    throw ParseError(line: line, message: "invalid \\u escape")
                }
                result.unicodeScalars.append(scalar)
            default:
                throw ParseError(line: line, message: "invalid escape sequence in string")
            }
        }
        return result
    }
}

extension StringProtocol {
    var trimmed: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
