import FoundationEssentials

extension WorkflowDefinition {
    /// The names an expression in a step may start from.
    static let stepScopeNames: Set<String> = ["inputs", "vars", "steps", "run"]

    /// Every problem with it, in a stable order (empty: it can be saved). Checks the shape
    /// (names, sizes, ports, one entry step, no cycles, every step reachable), each step's
    /// settings and expressions (parsed, naming only `inputs`, `vars`, `steps`, `run`, and
    /// only steps that finish before the one that reads them), the inputs schema, outputs
    /// and triggers.
    public func problems() -> [WorkflowProblem] {
        var problems: [WorkflowProblem] = []
        func add(_ node: String?, _ field: String?, _ message: String) { problems.append(WorkflowProblem(node: node, field: field, message: message)) }

        if !Workflows.isValidName(name) { add(nil, "name", "must be 1 to 64 lower-case letters, digits and '-', starting with a letter") }
        if title.isEmpty || title.count > Self.limits.titleLength { add(nil, "title", "must be 1 to \(Self.limits.titleLength) characters") }
        if description.count > 4000 { add(nil, "description", "must be at most 4000 characters") }
        if nodes.isEmpty || nodes.count > Self.limits.nodes { add(nil, "nodes", "a workflow has 1 to \(Self.limits.nodes) steps") }
        if edges.count > Self.limits.edges { add(nil, "edges", "a workflow has at most \(Self.limits.edges) edges") }
        if variables.count > Self.limits.variables { add(nil, "variables", "at most \(Self.limits.variables)") }
        for name in variables.keys.sorted() where !WorkflowNode.isValidID(name) { add(nil, "variables.\(name)", "a variable name is lower-case letters, digits and '_'") }
        do { _ = try JSONSchema(inputs) } catch { add(nil, "inputs", error.description) }
        if let concurrency, !(1...1000).contains(concurrency.limit) { add(nil, "concurrency.limit", "must be from 1 to 1000") }

        var ids: Set<String> = []
        var configs: [String: StepConfig] = [:]
        for node in nodes {
            guard WorkflowNode.isValidID(node.id) else { add(node.id, "id", "a step id is lower-case letters, digits and '_', starting with a letter (at most 64)"); continue }
            guard ids.insert(node.id).inserted else { add(node.id, "id", "is used by two steps"); continue }
            if let title = node.title, title.count > Self.limits.titleLength { add(node.id, "title", "must be at most \(Self.limits.titleLength) characters") }
            if let timeout = node.timeoutSeconds, !(1...(30 * 86400)).contains(timeout) { add(node.id, "timeoutSeconds", "must be from 1 second to 30 days") }
            if let retry = node.retry {
                if !(1...10).contains(retry.attempts) { add(node.id, "retry.attempts", "must be from 1 to 10") }
                if !(0...3600).contains(retry.backoffSeconds) { add(node.id, "retry.backoffSeconds", "must be from 0 to 3600") }
                if let multiplier = retry.multiplier, !(1...10).contains(multiplier) { add(node.id, "retry.multiplier", "must be from 1 to 10") }
            }
            do { configs[node.id] = try StepConfig(node) } catch { problems.append(error) }
        }

        var seenEdges: Set<WorkflowEdge> = []
        var validEdges: [WorkflowEdge] = []
        for (index, edge) in edges.enumerated() {
            guard let source = node(edge.from) else { add(nil, "edges[\(index)].from", "there is no step '\(edge.from)'"); continue }
            guard node(edge.to) != nil else { add(nil, "edges[\(index)].to", "there is no step '\(edge.to)'"); continue }
            guard edge.from != edge.to else { add(edge.from, "edges[\(index)]", "a step cannot lead to itself (use a while step to repeat)"); continue }
            guard seenEdges.insert(edge).inserted else { add(edge.from, "edges[\(index)]", "the same edge twice"); continue }
            let ports = ports(of: source, config: configs[source.id])
            if !ports.contains(edge.outcome) {
                add(edge.from, "edges[\(index)].port", ports.isEmpty ? "a \(source.type.rawValue) step ends the run: nothing follows it"
                    : "a \(source.type.rawValue) step leaves by \(ports.sorted().joined(separator: ", ")), not '\(edge.outcome)'")
                continue
            }
            validEdges.append(edge)
        }

        let targets = Set(validEdges.map(\.to))
        let entries = nodes.filter { !targets.contains($0.id) }
        if nodes.count > 0 && entries.count != 1 {
            add(nil, "edges", entries.isEmpty ? "every step has an edge leading to it: there is no first step"
                : "a workflow starts at one step, but nothing leads to \(entries.map(\.id).joined(separator: ", "))")
        }

        // Cycles (Kahn's algorithm on the valid edges): whatever remains is in or behind one.
        var indegree = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, 0) })
        for edge in validEdges { indegree[edge.to, default: 0] += 1 }
        var ready = nodes.map(\.id).filter { indegree[$0] == 0 }
        var order: [String] = []
        while let next = ready.popLast() {
            order.append(next)
            for edge in validEdges where edge.from == next {
                indegree[edge.to]! -= 1
                if indegree[edge.to] == 0 { ready.append(edge.to) }
            }
        }
        let cyclic = nodes.map(\.id).filter { indegree[$0, default: 0] > 0 }
        if !cyclic.isEmpty { add(cyclic.first, "edges", "steps \(cyclic.joined(separator: ", ")) form a cycle: use a while or for-each step to repeat work") }

        if entries.count == 1, cyclic.isEmpty {
            var reachable: Set<String> = [entries[0].id]
            for id in order where reachable.contains(id) { for edge in validEdges where edge.from == id { reachable.insert(edge.to) } }
            for node in nodes where !reachable.contains(node.id) { add(node.id, nil, "no path from the first step reaches it") }
        }

        // Expressions read only known names, and only steps that finish before them.
        var ancestors: [String: Set<String>] = [:]
        for id in order {
            var mine: Set<String> = []
            for edge in validEdges where edge.to == id { mine.insert(edge.from); mine.formUnion(ancestors[edge.from] ?? []) }
            ancestors[id] = mine
        }
        for node in nodes {
            guard let config = configs[node.id] else { continue }
            let extra: Set<String> = switch config {
            case .waitEvent: ["event"]
            case .forEach: ["item", "index"]
            case .while: ["iteration", "last", "item", "index"]
            default: []
            }
            for expression in config.expressions {
                for name in expression.referencedNames.subtracting(Self.stepScopeNames.union(extra)).sorted() {
                    add(node.id, "config", "'\(name)' in \"\(expression.source.prefix(80))\" is unknown: expressions read inputs, vars, steps and run")
                }
                for step in expression.referencedSteps.sorted() where cyclic.isEmpty {
                    if self.node(step) == nil { add(node.id, "config", "\"\(expression.source.prefix(80))\" reads step '\(step)', which does not exist") }
                    else if !(ancestors[node.id] ?? []).contains(step) { add(node.id, "config", "\"\(expression.source.prefix(80))\" reads step '\(step)', which does not run before this one") }
                }
            }
        }
        for key in outputs.keys.sorted() {
            do {
                for expression in try ValueTemplate(outputs[key]!).expressions() {
                    for name in expression.referencedNames.subtracting(Self.stepScopeNames).sorted() { add(nil, "outputs.\(key)", "'\(name)' is unknown") }
                    for step in expression.referencedSteps.sorted() where node(step) == nil { add(nil, "outputs.\(key)", "reads step '\(step)', which does not exist") }
                }
            } catch { add(nil, "outputs.\(key)", error.description) }
        }

        if triggers.count > Self.limits.triggers { add(nil, "triggers", "at most \(Self.limits.triggers)") }
        for (index, trigger) in triggers.enumerated() {
            let field = "triggers[\(index)]"
            switch trigger.type {
            case .schedule:
                guard let cron = trigger.cron else { add(nil, field + ".cron", "is required for a schedule"); continue }
                do { try JobSchedule.cron(expression: cron, timeZone: trigger.timeZone ?? "UTC").validate() } catch { add(nil, field, "\(error)") }
            case .event:
                guard let event = trigger.event, EventKind(rawValue: event) != nil else { add(nil, field + ".event", "must name an event the portal records"); continue }
                if let condition = trigger.condition {
                    do {
                        let expression = try Expression(condition)
                        for name in expression.referencedNames.subtracting(["event"]).sorted() { add(nil, field + ".condition", "'\(name)' is unknown: a trigger reads event") }
                    } catch { add(nil, field + ".condition", error.description) }
                }
            case .webhook:
                if triggers[..<index].contains(where: { $0.type == .webhook }) { add(nil, field, "a workflow has one webhook trigger") }
                if let condition = trigger.condition {
                    do {
                        let expression = try Expression(condition)
                        for name in expression.referencedNames.subtracting(["body", "webhook"]).sorted() { add(nil, field + ".condition", "'\(name)' is unknown: a webhook trigger reads body and webhook") }
                    } catch { add(nil, field + ".condition", error.description) }
                }
            }
            if let inputs = trigger.inputs { do { _ = try ValueTemplate(inputs).expressions() } catch { add(nil, field + ".inputs", error.description) } }
        }
        return problems
    }

    /// The ports a step may leave by.
    func ports(of node: WorkflowNode, config: StepConfig?) -> Set<String> {
        var ports: Set<String>
        if node.type == .switch {
            if case let .switch(cases) = config { ports = Set(cases.map(\.name) + ["default"]) } else { ports = ["default"] }
        } else {
            ports = Set(node.type.ports ?? [])
        }
        if node.failureAction == .handler { ports.insert("error") }
        return ports
    }
}
