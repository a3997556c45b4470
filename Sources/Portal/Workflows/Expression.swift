import FoundationEssentials

/// The workflow expression language: conditions (`steps.check.output.percent > 90`) and
/// input mappings (`"{{ inputs.host }}"`). It reads values and computes with them; it cannot
/// call out, loop or define anything, so evaluating one is bounded by its size.
///
/// Grammar (lowest precedence first): `a || b`, `a && b`, `== !=`, `< <= > >=`, `in`,
/// `+ -`, `* / %`, unary `! -`, then postfix `.name`, `[index]` and calls of the built-in
/// functions on literals (numbers, 'single' or "double" quoted strings, `true`, `false`,
/// `null`, `[lists]`), names and parentheses. A missing member or index is `null`; operators
/// on the wrong types are errors that name both types. Limits: 2,000 characters, nesting 32,
/// 10,000 evaluation steps, values of at most 64 KB.
public struct Expression: Sendable, Equatable, CustomStringConvertible {
    public let source: String
    let root: Node

    public static let maxLength = 2000
    static let maxDepth = 32
    static let maxSteps = 10_000
    static let maxValueBytes = 64 * 1024

    public init(_ source: String) throws(ExpressionError) {
        guard source.utf8.count <= Self.maxLength else { throw ExpressionError("an expression has at most \(Self.maxLength) characters", at: 0) }
        self.source = source
        var parser = Parser(tokens: try Lexer(source).tokens())
        root = try parser.parseAll()
    }

    public var description: String { source }

    /// The root names and `steps.<id>` it reads, for checks at save time.
    public var referencedSteps: Set<String> {
        var found: Set<String> = []
        root.visit { node in
            if case let .member(.name("steps"), id) = node { found.insert(id) }
            if case let .index(.name("steps"), .literal(.string(id))) = node { found.insert(id) }
        }
        return found
    }

    public var referencedNames: Set<String> {
        var found: Set<String> = []
        root.visit { node in if case let .name(name) = node { found.insert(name) } }
        return found
    }

    /// Its value with `scope` as the root names.
    public func evaluate(_ scope: [String: JSONAny]) throws(ExpressionError) -> JSONAny {
        var evaluator = Evaluator(scope: scope)
        return try evaluator.value(root)
    }

    /// Whether it holds, for conditions: only `true` and `false` are answers.
    public func holds(_ scope: [String: JSONAny]) throws(ExpressionError) -> Bool {
        let value = try evaluate(scope)
        guard case let .bool(answer) = value else { throw ExpressionError("a condition must be true or false, not \(value.typeName)", at: 0) }
        return answer
    }

    indirect enum Node: Sendable, Equatable {
        case literal(JSONAny)
        case list([Node])
        case name(String)
        case member(Node, String)
        case index(Node, Node)
        case call(String, [Node], position: Int)
        case unary(String, Node, position: Int)
        case binary(String, Node, Node, position: Int)

        func visit(_ body: (Node) -> Void) {
            body(self)
            switch self {
            case .literal, .name: break
            case let .list(items): items.forEach { $0.visit(body) }
            case let .member(base, _): base.visit(body)
            case let .index(base, index): base.visit(body); index.visit(body)
            case let .call(_, arguments, _): arguments.forEach { $0.visit(body) }
            case let .unary(_, operand, _): operand.visit(body)
            case let .binary(_, left, right, _): left.visit(body); right.visit(body)
            }
        }
    }

    /// The functions an expression may call, with how many arguments each takes.
    public static let functions: [String: ClosedRange<Int>] = [
        "len": 1...1, "lower": 1...1, "upper": 1...1, "trim": 1...1, "string": 1...1, "number": 1...1,
        "contains": 2...2, "startsWith": 2...2, "endsWith": 2...2, "default": 2...2, "join": 2...2,
        "split": 2...2, "keys": 1...1, "abs": 1...1, "round": 1...1, "min": 1...8, "max": 1...8,
    ]
}

/// Why an expression does not parse or cannot be evaluated, with the character offset.
public struct ExpressionError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public let position: Int

    public init(_ message: String, at position: Int) {
        self.message = message
        self.position = position
    }

    public var description: String { position > 0 ? "\(message) (at character \(position + 1))" : message }
}

extension JSONAny {
    /// How error messages name its type.
    var typeName: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .array: "a list"
        case .object: "an object"
        case .null: "null"
        }
    }

    /// Its text in a string template: strings as they are, numbers without a needless `.0`,
    /// everything else as JSON.
    var templateText: String {
        switch self {
        case let .string(text): return text
        case let .number(number): return number.templateText
        case let .bool(flag): return flag ? "true" : "false"
        case .null: return ""
        case .array, .object: return String(decoding: canonicalJSON, as: UTF8.self)
        }
    }
}

extension Double {
    var templateText: String {
        if self == rounded(), abs(self) < 1e15 { return String(Int64(self)) }
        return "\(self)"
    }
}

// MARK: Lexing

private struct Token: Equatable {
    enum Kind: Equatable { case number(Double), string(String), name(String), symbol(String), end }
    let kind: Kind
    let position: Int
}

private struct Lexer {
    let scalars: [Unicode.Scalar]
    init(_ source: String) { scalars = Array(source.unicodeScalars) }

    static let symbols = ["||", "&&", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", "[", "]", ".", ","]

    func tokens() throws(ExpressionError) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" { index += 1; continue }
            let start = index
            if isDigit(scalar) {
                while index < scalars.count, isDigit(scalars[index]) || scalars[index] == "." && index + 1 < scalars.count && isDigit(scalars[index + 1]) { index += 1 }
                let text = String(String.UnicodeScalarView(scalars[start..<index]))
                guard let number = Double(text) else { throw ExpressionError("'\(text)' is not a number", at: start) }
                tokens.append(Token(kind: .number(number), position: start))
            } else if scalar == "'" || scalar == "\"" {
                index += 1
                var text = String.UnicodeScalarView()
                while true {
                    guard index < scalars.count else { throw ExpressionError("the string is not closed", at: start) }
                    let next = scalars[index]
                    if next == scalar { index += 1; break }
                    if next == "\\" {
                        guard index + 1 < scalars.count else { throw ExpressionError("the string is not closed", at: start) }
                        switch scalars[index + 1] {
                        case "n": text.append("\n")
                        case "t": text.append("\t")
                        case "\\", "'", "\"": text.append(scalars[index + 1])
                        default: throw ExpressionError("unknown escape \\\(scalars[index + 1])", at: index)
                        }
                        index += 2
                    } else {
                        text.append(next)
                        index += 1
                    }
                }
                tokens.append(Token(kind: .string(String(text)), position: start))
            } else if isNameStart(scalar) {
                while index < scalars.count, isNameStart(scalars[index]) || isDigit(scalars[index]) { index += 1 }
                tokens.append(Token(kind: .name(String(String.UnicodeScalarView(scalars[start..<index]))), position: start))
            } else if let symbol = Self.symbols.first(where: { matches($0, at: index) }) {
                index += symbol.unicodeScalars.count
                tokens.append(Token(kind: .symbol(symbol), position: start))
            } else {
                throw ExpressionError("unexpected '\(Character(scalar))'", at: start)
            }
        }
        tokens.append(Token(kind: .end, position: scalars.count))
        return tokens
    }

    private func matches(_ symbol: String, at index: Int) -> Bool {
        let wanted = Array(symbol.unicodeScalars)
        return index + wanted.count <= scalars.count && Array(scalars[index..<index + wanted.count]) == wanted
    }

    private func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
    private func isNameStart(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" }
}

// MARK: Parsing

private struct Parser {
    let tokens: [Token]
    var index = 0
    var depth = 0

    init(tokens: [Token]) { self.tokens = tokens }

    var current: Token { tokens[index] }

    mutating func parseAll() throws(ExpressionError) -> Expression.Node {
        guard current.kind != .end else { throw ExpressionError("the expression is empty", at: 0) }
        let node = try parseBinary(level: 0)
        guard current.kind == .end else { throw ExpressionError("unexpected \(describe(current))", at: current.position) }
        return node
    }

    static let levels: [[String]] = [["||"], ["&&"], ["==", "!="], ["<", "<=", ">", ">="], ["in"], ["+", "-"], ["*", "/", "%"]]

    mutating func parseBinary(level: Int) throws(ExpressionError) -> Expression.Node {
        guard level < Self.levels.count else { return try parseUnary() }
        var left = try parseBinary(level: level + 1)
        while let symbol = operatorHere(), Self.levels[level].contains(symbol) {
            let position = current.position
            index += 1
            let right = try parseBinary(level: level + 1)
            left = .binary(symbol, left, right, position: position)
        }
        return left
    }

    func operatorHere() -> String? {
        switch current.kind {
        case let .symbol(symbol): symbol
        case .name("in"): "in"
        default: nil
        }
    }

    mutating func parseUnary() throws(ExpressionError) -> Expression.Node {
        if case let .symbol(symbol) = current.kind, symbol == "!" || symbol == "-" {
            let position = current.position
            index += 1
            return try nested { (parser: inout Parser) throws(ExpressionError) in .unary(symbol, try parser.parseUnary(), position: position) }
        }
        return try parsePostfix()
    }

    mutating func nested(_ body: (inout Parser) throws(ExpressionError) -> Expression.Node) throws(ExpressionError) -> Expression.Node {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Expression.maxDepth else { throw ExpressionError("the expression nests deeper than \(Expression.maxDepth)", at: current.position) }
        return try body(&self)
    }

    mutating func parsePostfix() throws(ExpressionError) -> Expression.Node {
        var node = try parsePrimary()
        while true {
            if current.kind == .symbol(".") {
                index += 1
                guard case let .name(name) = current.kind else { throw ExpressionError("a name must follow '.'", at: current.position) }
                index += 1
                node = .member(node, name)
            } else if current.kind == .symbol("[") {
                index += 1
                let subscriptNode = try nested { (parser: inout Parser) throws(ExpressionError) in try parser.parseBinary(level: 0) }
                try expect("]")
                node = .index(node, subscriptNode)
            } else {
                return node
            }
        }
    }

    mutating func parsePrimary() throws(ExpressionError) -> Expression.Node {
        let token = current
        switch token.kind {
        case let .number(number):
            index += 1
            return .literal(.number(number))
        case let .string(text):
            index += 1
            return .literal(.string(text))
        case .name("true"): index += 1; return .literal(.bool(true))
        case .name("false"): index += 1; return .literal(.bool(false))
        case .name("null"): index += 1; return .literal(.null)
        case let .name(name):
            index += 1
            guard current.kind == .symbol("(") else { return .name(name) }
            guard let arity = Expression.functions[name] else { throw ExpressionError("there is no function \(name)", at: token.position) }
            index += 1
            let arguments = try list(closing: ")")
            guard arity.contains(arguments.count) else {
                throw ExpressionError("\(name) takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") argument\(arity.upperBound == 1 ? "" : "s"), not \(arguments.count)", at: token.position)
            }
            return .call(name, arguments, position: token.position)
        case .symbol("("):
            index += 1
            let inner = try nested { (parser: inout Parser) throws(ExpressionError) in try parser.parseBinary(level: 0) }
            try expect(")")
            return inner
        case .symbol("["):
            index += 1
            return .list(try list(closing: "]"))
        default:
            throw ExpressionError(token.kind == .end ? "the expression ends too early" : "unexpected \(describe(token))", at: token.position)
        }
    }

    mutating func list(closing: String) throws(ExpressionError) -> [Expression.Node] {
        var items: [Expression.Node] = []
        if current.kind == .symbol(closing) { index += 1; return items }
        while true {
            items.append(try nested { (parser: inout Parser) throws(ExpressionError) in try parser.parseBinary(level: 0) })
            if current.kind == .symbol(",") { index += 1; continue }
            try expect(closing)
            return items
        }
    }

    mutating func expect(_ symbol: String) throws(ExpressionError) {
        guard current.kind == .symbol(symbol) else { throw ExpressionError("expected '\(symbol)', found \(describe(current))", at: current.position) }
        index += 1
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case let .number(number): "the number \(number.templateText)"
        case .string: "a string"
        case let .name(name): "'\(name)'"
        case let .symbol(symbol): "'\(symbol)'"
        case .end: "the end"
        }
    }
}

// MARK: Evaluation

private struct Evaluator {
    let scope: [String: JSONAny]
    var steps = 0

    mutating func value(_ node: Expression.Node) throws(ExpressionError) -> JSONAny {
        steps += 1
        guard steps <= Expression.maxSteps else { throw ExpressionError("the expression takes more than \(Expression.maxSteps) steps", at: 0) }
        switch node {
        case let .literal(value):
            return value
        case let .list(items):
            var values: [JSONAny] = []
            for item in items { values.append(try value(item)) }
            return .array(values)
        case let .name(name):
            guard let found = scope[name] else { throw ExpressionError("unknown name '\(name)' (known: \(scope.keys.sorted().joined(separator: ", ")))", at: 0) }
            return found
        case let .member(base, name):
            let container = try value(base)
            switch container {
            case let .object(object): return object[name] ?? .null
            case .null: return .null
            default: throw ExpressionError("\(container.typeName) has no member '\(name)'", at: 0)
            }
        case let .index(base, subscriptNode):
            let container = try value(base)
            let key = try value(subscriptNode)
            switch (container, key) {
            case let (.object(object), .string(name)): return object[name] ?? .null
            case let (.array(items), .number(number)):
                guard number == number.rounded(), abs(number) < 1e9 else { throw ExpressionError("a list index must be a whole number", at: 0) }
                let position = Int(number) < 0 ? items.count + Int(number) : Int(number)
                return items.indices.contains(position) ? items[position] : .null
            case (.null, _): return .null
            default: throw ExpressionError("\(container.typeName) cannot be indexed by \(key.typeName)", at: 0)
            }
        case let .unary(symbol, operand, position):
            let operandValue = try value(operand)
            switch (symbol, operandValue) {
            case let ("!", .bool(flag)): return .bool(!flag)
            case let ("-", .number(number)): return .number(-number)
            default: throw ExpressionError("'\(symbol)' does not apply to \(operandValue.typeName)", at: position)
            }
        case let .binary(symbol, left, right, position):
            if symbol == "&&" || symbol == "||" {
                let leftValue = try value(left)
                guard case let .bool(leftFlag) = leftValue else { throw ExpressionError("'\(symbol)' needs booleans, not \(leftValue.typeName)", at: position) }
                if symbol == "&&" && !leftFlag { return .bool(false) }
                if symbol == "||" && leftFlag { return .bool(true) }
                let rightValue = try value(right)
                guard case let .bool(rightFlag) = rightValue else { throw ExpressionError("'\(symbol)' needs booleans, not \(rightValue.typeName)", at: position) }
                return .bool(rightFlag)
            }
            return try binary(symbol, try value(left), try value(right), position: position)
        case let .call(name, arguments, position):
            var values: [JSONAny] = []
            for argument in arguments { values.append(try value(argument)) }
            return try call(name, values, position: position)
        }
    }

    func bounded(_ value: JSONAny, position: Int) throws(ExpressionError) -> JSONAny {
        let size: Int
        switch value {
        case let .string(text): size = text.utf8.count
        case .array, .object: size = value.canonicalJSON.count
        default: size = 0
        }
        guard size <= Expression.maxValueBytes else { throw ExpressionError("the value would be larger than \(Expression.maxValueBytes / 1024) KB", at: position) }
        return value
    }

    func binary(_ symbol: String, _ left: JSONAny, _ right: JSONAny, position: Int) throws(ExpressionError) -> JSONAny {
        switch symbol {
        case "==": return .bool(left == right)
        case "!=": return .bool(left != right)
        case "<", "<=", ">", ">=":
            let order: Int
            switch (left, right) {
            case let (.number(a), .number(b)): order = a < b ? -1 : a > b ? 1 : 0
            case let (.string(a), .string(b)): order = a < b ? -1 : a > b ? 1 : 0
            default: throw ExpressionError("cannot compare \(left.typeName) with \(right.typeName)", at: position)
            }
            return .bool(symbol == "<" ? order < 0 : symbol == "<=" ? order <= 0 : symbol == ">" ? order > 0 : order >= 0)
        case "in":
            switch (left, right) {
            case let (_, .array(items)): return .bool(items.contains(left))
            case let (.string(needle), .string(haystack)): return .bool(haystack.contains(needle))
            case let (.string(key), .object(object)): return .bool(object[key] != nil)
            default: throw ExpressionError("'in' cannot look for \(left.typeName) in \(right.typeName)", at: position)
            }
        case "+":
            switch (left, right) {
            case let (.number(a), .number(b)): return .number(a + b)
            case let (.string(a), .string(b)): return try bounded(.string(a + b), position: position)
            case let (.array(a), .array(b)): return try bounded(.array(a + b), position: position)
            default: throw ExpressionError("cannot add \(right.typeName) to \(left.typeName)", at: position)
            }
        default:
            guard case let .number(a) = left, case let .number(b) = right else {
                throw ExpressionError("'\(symbol)' needs numbers, not \(left.typeName) and \(right.typeName)", at: position)
            }
            switch symbol {
            case "-": return .number(a - b)
            case "*": return .number(a * b)
            default:
                guard b != 0 else { throw ExpressionError("division by zero", at: position) }
                return .number(symbol == "/" ? a / b : a.truncatingRemainder(dividingBy: b))
            }
        }
    }

    func call(_ name: String, _ arguments: [JSONAny], position: Int) throws(ExpressionError) -> JSONAny {
        func refuse() -> ExpressionError {
            ExpressionError("\(name) does not take \(arguments.map(\.typeName).joined(separator: " and "))", at: position)
        }
        switch (name, arguments.first, arguments.count > 1 ? arguments[1] : nil) {
        case let ("len", .string(text)?, _): return .number(Double(text.count))
        case let ("len", .array(items)?, _): return .number(Double(items.count))
        case let ("len", .object(object)?, _): return .number(Double(object.count))
        case ("len", .null?, _): return .number(0)
        case let ("lower", .string(text)?, _): return .string(text.lowercased())
        case let ("upper", .string(text)?, _): return .string(text.uppercased())
        case let ("trim", .string(text)?, _):
            let scalars = text.unicodeScalars
            let start = scalars.firstIndex { !$0.properties.isWhitespace } ?? scalars.endIndex
            let end = scalars.lastIndex { !$0.properties.isWhitespace }.map { scalars.index(after: $0) } ?? start
            return .string(String(scalars[start..<max(start, end)]))
        case let ("string", value?, _): return try bounded(.string(value.templateText), position: position)
        case let ("number", .number(number)?, _): return .number(number)
        case let ("number", .string(text)?, _):
            guard let number = Double(text) else { throw ExpressionError("'\(text.prefix(40))' is not a number", at: position) }
            return .number(number)
        case let ("number", .bool(flag)?, _): return .number(flag ? 1 : 0)
        case let ("contains", .string(text)?, .string(part)?): return .bool(text.contains(part))
        case let ("contains", .array(items)?, item?): return .bool(items.contains(item))
        case let ("startsWith", .string(text)?, .string(part)?): return .bool(text.hasPrefix(part))
        case let ("endsWith", .string(text)?, .string(part)?): return .bool(text.hasSuffix(part))
        case let ("default", value?, fallback?): return value == .null ? fallback : value
        case let ("join", .array(items)?, .string(separator)?): return try bounded(.string(items.map(\.templateText).joined(separator: separator)), position: position)
        case let ("split", .string(text)?, .string(separator)?):
            guard !separator.isEmpty else { throw ExpressionError("split needs a separator that is not empty", at: position) }
            return try bounded(.array(text.split(separator: separator, omittingEmptySubsequences: false).map { .string(String($0)) }), position: position)
        case let ("keys", .object(object)?, _): return .array(object.keys.sorted().map { .string($0) })
        case let ("abs", .number(number)?, _): return .number(abs(number))
        case let ("round", .number(number)?, _): return .number(number.rounded())
        case ("min", _, _), ("max", _, _):
            var numbers: [Double] = []
            for argument in arguments {
                switch argument {
                case let .number(number): numbers.append(number)
                case let .array(items) where arguments.count == 1:
                    for item in items { guard case let .number(number) = item else { throw refuse() }; numbers.append(number) }
                default: throw refuse()
                }
            }
            guard let result = name == "min" ? numbers.min() : numbers.max() else { return .null }
            return .number(result)
        default:
            throw refuse()
        }
    }
}

// MARK: Templates

/// A JSON value whose strings may hold `{{ expression }}` parts: a string that is exactly one
/// such part becomes the expression's value (any type); other strings become text with each
/// part replaced by its value's text. Objects and lists are mapped member by member.
public struct ValueTemplate: Sendable, Equatable {
    public let value: JSONAny

    public init(_ value: JSONAny) { self.value = value }

    /// Every expression in it, parsed: throws the first that does not parse, naming where.
    public func expressions() throws(ExpressionError) -> [Expression] {
        var found: [Expression] = []
        try Self.collect(value, into: &found)
        return found
    }

    private static func collect(_ value: JSONAny, into found: inout [Expression]) throws(ExpressionError) {
        switch value {
        case let .string(text): for part in try parts(text) { if case let .expression(expression) = part { found.append(expression) } }
        case let .array(items): for item in items { try collect(item, into: &found) }
        case let .object(object): for key in object.keys.sorted() { try collect(object[key]!, into: &found) }
        default: break
        }
    }

    public func render(_ scope: [String: JSONAny]) throws(ExpressionError) -> JSONAny {
        try Self.render(value, scope)
    }

    private static func render(_ value: JSONAny, _ scope: [String: JSONAny]) throws(ExpressionError) -> JSONAny {
        switch value {
        case let .string(text):
            let parts = try parts(text)
            if parts.count == 1, case let .expression(expression) = parts[0] { return try expression.evaluate(scope) }
            var rendered = ""
            for part in parts {
                switch part {
                case let .text(text): rendered += text
                case let .expression(expression): rendered += try expression.evaluate(scope).templateText
                }
                guard rendered.utf8.count <= Expression.maxValueBytes else { throw ExpressionError("the text would be longer than \(Expression.maxValueBytes / 1024) KB", at: 0) }
            }
            return .string(rendered)
        case let .array(items):
            var rendered: [JSONAny] = []
            for item in items { rendered.append(try render(item, scope)) }
            return .array(rendered)
        case let .object(object):
            var rendered: [String: JSONAny] = [:]
            for (key, item) in object { rendered[key] = try render(item, scope) }
            return .object(rendered)
        default:
            return value
        }
    }

    enum Part { case text(String), expression(Expression) }

    /// A string's literal text and `{{ … }}` parts.
    static func parts(_ text: String) throws(ExpressionError) -> [Part] {
        var parts: [Part] = []
        let scalars = Array(text.unicodeScalars)
        func find(_ first: Unicode.Scalar, _ second: Unicode.Scalar, from start: Int) -> Int? {
            var index = start
            while index + 1 < scalars.count {
                if scalars[index] == first && scalars[index + 1] == second { return index }
                index += 1
            }
            return nil
        }
        func string(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(scalars[range])) }
        var cursor = 0
        while let open = find("{", "{", from: cursor) {
            if open > cursor { parts.append(.text(string(cursor..<open))) }
            guard let close = find("}", "}", from: open + 2) else { throw ExpressionError("'{{' is not closed by '}}' in \"\(text.prefix(60))\"", at: 0) }
            var inner = open + 2, end = close
            while inner < end, scalars[inner].properties.isWhitespace { inner += 1 }
            while end > inner, scalars[end - 1].properties.isWhitespace { end -= 1 }
            parts.append(.expression(try Expression(string(inner..<end))))
            cursor = close + 2
        }
        if cursor < scalars.count || parts.isEmpty { parts.append(.text(string(cursor..<scalars.count))) }
        return parts
    }
}
