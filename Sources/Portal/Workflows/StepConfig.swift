import FoundationEssentials

/// A step's settings, read from its `config` and checked: every expression parsed, every
/// number in range. `StepType.configSchema` publishes the same rules for the designer.
public enum StepConfig: Sendable, Equatable {
    case tool(name: String, input: ValueTemplate)
    case http(HTTPRequestStep)
    case condition(Expression)
    case `switch`([(name: String, expression: Expression)])
    case join(JoinMode)
    case forEach(items: Expression, workflow: String, input: ValueTemplate, concurrency: Int)
    case `while`(condition: Expression, until: Bool, workflow: String, input: ValueTemplate, maxIterations: Int)
    case subWorkflow(workflow: String, input: ValueTemplate)
    case approval(ApprovalStep)
    case wait(seconds: Double?, until: ValueTemplate?)
    case waitEvent(event: EventKind, condition: Expression?)
    case set([String: ValueTemplate])
    case notify(message: ValueTemplate, users: [String])
    case fail(message: ValueTemplate)
    case stop

    public enum JoinMode: Sendable, Equatable {
        case all, any
        case count(Int)
    }

    /// Who decides an approval step.
    public struct ApprovalStep: Sendable, Equatable {
        public var mode: ApprovalRule.Mode
        /// User names; empty: anyone with `role` (or `approvals:decide`) in the organization.
        public var approvers: [String]
        public var role: Role?
        /// The person who started the run may decide only when this is set and `risk` is not high.
        public var allowSelfApproval: Bool
        public var risk: RiskLevel
        public var expiresAfterMinutes: Int
        public var message: ValueTemplate
    }

    public static func == (a: StepConfig, b: StepConfig) -> Bool {
        switch (a, b) {
        case let (.switch(x), .switch(y)): x.map(\.name) == y.map(\.name) && x.map(\.expression) == y.map(\.expression)
        case let (.tool(n1, i1), .tool(n2, i2)): n1 == n2 && i1 == i2
        case let (.http(x), .http(y)): x == y
        case let (.condition(x), .condition(y)): x == y
        case let (.join(x), .join(y)): x == y
        case let (.forEach(a1, b1, c1, d1), .forEach(a2, b2, c2, d2)): a1 == a2 && b1 == b2 && c1 == c2 && d1 == d2
        case let (.while(a1, b1, c1, d1, e1), .while(a2, b2, c2, d2, e2)): a1 == a2 && b1 == b2 && c1 == c2 && d1 == d2 && e1 == e2
        case let (.subWorkflow(a1, b1), .subWorkflow(a2, b2)): a1 == a2 && b1 == b2
        case let (.approval(x), .approval(y)): x == y
        case let (.wait(a1, b1), .wait(a2, b2)): a1 == a2 && b1 == b2
        case let (.waitEvent(a1, b1), .waitEvent(a2, b2)): a1 == a2 && b1 == b2
        case let (.set(x), .set(y)): x == y
        case let (.notify(a1, b1), .notify(a2, b2)): a1 == a2 && b1 == b2
        case let (.fail(x), .fail(y)): x == y
        case (.stop, .stop): true
        default: false
        }
    }

    /// Reads `node.config`; each problem names the field.
    public init(_ node: WorkflowNode) throws(WorkflowProblem) {
        let config = node.config.object ?? [:]
        func problem(_ field: String, _ message: String) -> WorkflowProblem { WorkflowProblem(node: node.id, field: "config.\(field)", message: message) }
        func string(_ field: String) throws(WorkflowProblem) -> String {
            guard let value = config[field]?.string, !value.isEmpty else { throw problem(field, "is required (text)") }
            return value
        }
        func expression(_ field: String) throws(WorkflowProblem) -> Expression {
            let source = try string(field)
            do { return try Expression(source) } catch { throw problem(field, error.description) }
        }
        func template(_ field: String, default fallback: JSONAny = .object([:])) throws(WorkflowProblem) -> ValueTemplate {
            let template = ValueTemplate(config[field] ?? fallback)
            do { _ = try template.expressions() } catch { throw problem(field, error.description) }
            return template
        }
        func integer(_ field: String, _ range: ClosedRange<Int>, default fallback: Int) throws(WorkflowProblem) -> Int {
            guard let raw = config[field], raw != .null else { return fallback }
            guard let value = raw.integer, range.contains(value) else { throw problem(field, "must be a whole number from \(range.lowerBound) to \(range.upperBound)") }
            return value
        }
        func workflowName(_ field: String) throws(WorkflowProblem) -> String {
            let name = try string(field)
            guard Workflows.isValidName(name) else { throw problem(field, "must name a workflow (lower-case letters, digits and '-')") }
            return name
        }
        switch node.type {
        case .tool:
            self = .tool(name: try string("tool"), input: try template("input"))
        case .http:
            self = .http(try HTTPRequestStep(config, problem: problem))
        case .condition:
            self = .condition(try expression("expression"))
        case .switch:
            guard let cases = config["cases"]?.array, !cases.isEmpty, cases.count <= 20 else { throw problem("cases", "must list 1 to 20 cases") }
            var parsed: [(String, Expression)] = []
            for (index, item) in cases.enumerated() {
                guard let name = item["name"]?.string, WorkflowNode.isValidPort(name), name != "default" else {
                    throw problem("cases[\(index)].name", "must be lower-case letters, digits and '-' (and not 'default')")
                }
                guard !parsed.contains(where: { $0.0 == name }) else { throw problem("cases[\(index)].name", "'\(name)' is used twice") }
                guard let source = item["expression"]?.string else { throw problem("cases[\(index)].expression", "is required") }
                do { parsed.append((name, try Expression(source))) } catch { throw problem("cases[\(index)].expression", error.description) }
            }
            self = .switch(parsed)
        case .join:
            switch config["mode"]?.string ?? "all" {
            case "all": self = .join(.all)
            case "any": self = .join(.any)
            case "count": self = .join(.count(try integer("count", 1...100, default: 0)))
                if case .join(.count(0)) = self { throw problem("count", "is required for mode count") }
            default: throw problem("mode", "must be all, any or count")
            }
        case .forEach:
            self = .forEach(items: try expression("items"), workflow: try workflowName("workflow"), input: try template("input"),
                            concurrency: try integer("concurrency", 1...16, default: 1))
        case .while:
            let until = config["until"]?.bool ?? false
            self = .while(condition: try expression("condition"), until: until, workflow: try workflowName("workflow"), input: try template("input"),
                          maxIterations: try integer("maxIterations", 1...1000, default: 10))
        case .subWorkflow:
            self = .subWorkflow(workflow: try workflowName("workflow"), input: try template("input"))
        case .approval:
            let mode = ApprovalRule.Mode(rawValue: config["mode"]?.string ?? "any-one")
            guard let mode else { throw problem("mode", "must be any-one or all-of") }
            let approvers = config["approvers"]?.strings ?? []
            let role: Role?
            if let raw = config["role"]?.string { guard let known = Role(rawValue: raw) else { throw problem("role", "must be viewer, operator or admin") }; role = known } else { role = nil }
            if mode == .allOf && approvers.isEmpty { throw problem("approvers", "all-of needs the approvers named") }
            guard approvers.count <= 20 else { throw problem("approvers", "at most 20") }
            let risk = RiskLevel(rawValue: config["risk"]?.string ?? "high")
            guard let risk else { throw problem("risk", "must be one of \(RiskLevel.allCases.map(\.rawValue).joined(separator: ", "))") }
            self = .approval(ApprovalStep(mode: mode, approvers: approvers, role: role, allowSelfApproval: config["allowSelfApproval"]?.bool ?? false, risk: risk,
                                          expiresAfterMinutes: try integer("expiresAfterMinutes", ApprovalRule.expiryRange, default: 24 * 60),
                                          message: try template("message", default: .string(""))))
        case .wait:
            let seconds = config["seconds"]?.number
            if let seconds, !(0...(366 * 86400)).contains(seconds) { throw problem("seconds", "must be from 0 to a year") }
            let until = config["until"].map(ValueTemplate.init)
            if let until { do { _ = try until.expressions() } catch { throw problem("until", error.description) } }
            guard (seconds == nil) != (until == nil) else { throw problem("seconds", "give either seconds or until") }
            self = .wait(seconds: seconds, until: until)
        case .waitEvent:
            guard let kind = EventKind(rawValue: try string("event")) else { throw problem("event", "is not an event the portal records") }
            self = .waitEvent(event: kind, condition: config["condition"] == nil ? nil : try expression("condition"))
        case .set:
            guard let variables = config["variables"]?.object, !variables.isEmpty else { throw problem("variables", "must set at least one variable") }
            var templates: [String: ValueTemplate] = [:]
            for (name, value) in variables {
                guard WorkflowNode.isValidID(name) else { throw problem("variables.\(name)", "a variable name is lower-case letters, digits and '_'") }
                let template = ValueTemplate(value)
                do { _ = try template.expressions() } catch { throw problem("variables.\(name)", error.description) }
                templates[name] = template
            }
            self = .set(templates)
        case .notify:
            self = .notify(message: try template("message", default: .null), users: config["users"]?.strings ?? [])
            if case let .notify(message, _) = self, message.value.string?.isEmpty ?? true { throw problem("message", "is required (text)") }
        case .fail:
            self = .fail(message: try template("message", default: .string("the workflow failed")))
        case .stop:
            self = .stop
        }
    }

    /// Every expression it holds, for reference checks.
    var expressions: [Expression] {
        let templates: [ValueTemplate]
        var direct: [Expression] = []
        switch self {
        case let .tool(_, input), let .subWorkflow(_, input): templates = [input]
        case let .http(request): templates = request.templates.map(\.1)
        case let .condition(expression): templates = []; direct = [expression]
        case let .switch(cases): templates = []; direct = cases.map(\.expression)
        case .join, .stop: templates = []
        case let .forEach(items, _, input, _): templates = [input]; direct = [items]
        case let .while(condition, _, _, input, _): templates = [input]; direct = [condition]
        case let .approval(step): templates = [step.message]
        case let .wait(_, until): templates = until.map { [$0] } ?? []
        case let .waitEvent(_, condition): templates = []; direct = condition.map { [$0] } ?? []
        case let .set(variables): templates = Array(variables.values)
        case let .notify(message, _), let .fail(message): templates = [message]
        }
        return direct + templates.flatMap { (try? $0.expressions()) ?? [] }
    }
}

extension WorkflowNode {
    static func isValidID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, ("a"..."z").contains(first), id.utf8.count <= 64 else { return false }
        return id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    static func isValidPort(_ port: String) -> Bool {
        !port.isEmpty && port.utf8.count <= 40 && port.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }
}

/// One thing wrong with a definition: where (a node and field, or the workflow) and what.
public struct WorkflowProblem: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public let node: String?
    public let field: String?
    public let message: String

    public init(node: String? = nil, field: String? = nil, message: String) {
        self.node = node
        self.field = field
        self.message = message
    }

    public var description: String {
        [node.map { "step \($0)" }, field].compactMap { $0 }.joined(separator: " ") + (node == nil && field == nil ? "" : ": ") + message
    }
}
