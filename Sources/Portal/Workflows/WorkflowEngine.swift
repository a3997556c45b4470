public import FoundationEssentials
public import KV
import Logging

/// The engine: one `Transition` per change of a run, computed and written in one write
/// transaction; what must happen outside storage (running a tool, moving another run on) is
/// an `Effect` carried out after the commit.
extension Workflows {
    enum Effect: Sendable {
        /// Hand a tool or HTTP step over (after recording that it was handed over).
        case execute(organizationID: UUID, runID: TimeOrderedID, node: String, attempt: Int)
        /// Move a run on (a child started, a parent's child ended, a queued run's turn).
        case advance(organizationID: UUID, runID: TimeOrderedID)
        case cancel(organizationID: UUID, runID: TimeOrderedID, reason: String)
        /// Withdraw a tool run still waiting for approval: its step ended without it.
        case withdrawToolRun(organizationID: UUID, toolRunID: TimeOrderedID, reason: String)
        /// Tell people in the portal (named members; the starter when none are named).
        case notify(organizationID: UUID, runID: TimeOrderedID, workflow: String, users: [String], starterID: UUID, message: String)
    }

    /// A run being changed inside one write transaction.
    struct Transition {
        var run: WorkflowRun
        let definition: WorkflowDefinition
        let now: Date
        let actor: Principal?
        var events: [WorkflowEvent] = []
        var logEntries: [WorkflowLogEntry] = []
        var effects: [Effect] = []
        var wakes: [Date] = []
        var toolWaitsAdded: [(TimeOrderedID, StepReference)] = []
        var toolWaitsRemoved: [TimeOrderedID] = []
        var eventWaitsAdded: [(EventKind, String)] = []
        var eventWaitsRemoved: [(EventKind, String)] = []
        /// Child runs to create in the same transaction: (step, index, workflow, input).
        var childrenToStart: [(node: String, index: Int, workflow: String, input: JSONAny)] = []

        var organizationID: UUID { run.organizationID }

        mutating func record(_ kind: EventKind, node: String? = nil, status: String, detail: String = "", attempt: Int? = nil) {
            run.logLength += 1
            logEntries.append(WorkflowLogEntry(sequence: run.logLength, time: now, kind: kind, node: node, attempt: attempt, status: status, detail: String(detail.prefix(2000))))
            events.append(WorkflowEvent(kind: kind, workflow: run.workflow, version: run.version, runID: run.id, node: node, status: status,
                                        actorID: actor?.user.id, detail: String(detail.prefix(500))))
        }

        /// What expressions of the run read.
        var scope: [String: JSONAny] {
            var steps: [String: JSONAny] = [:]
            for (id, step) in run.steps {
                steps[id] = .object(["status": .string(step.status.rawValue), "output": step.output ?? .null, "error": step.error.map(JSONAny.string) ?? .null,
                                     "attempts": .number(Double(step.attempts)), "port": step.port.map(JSONAny.string) ?? .null])
            }
            return ["inputs": run.inputs, "vars": .object(run.variables), "steps": .object(steps),
                    "run": .object(["id": .string(run.id.description), "workflow": .string(run.workflow), "version": .number(Double(run.version)),
                                    "starter": .string(run.starterName), "trigger": .string(run.trigger.rawValue)])]
        }
    }

    // MARK: Writing transitions

    /// Loads the run, lets `body` change it, and writes the result (state, log, events,
    /// indexes, timers) in `txn`. Returns the effects to carry out after the commit.
    @available(*, noasync)
    func transition(_ runID: TimeOrderedID, in organizationID: UUID, actor: Principal? = nil, txn: borrowing WriteTransaction,
                    _ body: (inout Transition) throws -> Void) throws -> (WorkflowRun, [Effect]) {
        guard let run = try txn.get(runs, (organizationID, runID)) else { throw PortalError.notFound("workflow run \(runID)") }
        let definition = try definition(run.workflow, run.version, in: organizationID, txn: txn)
        var transition = Transition(run: run, definition: definition, now: clock.now(), actor: actor)
        try body(&transition)
        return (transition.run, try commit(&transition, previous: run, txn: txn))
    }

    @available(*, noasync)
    func commit(_ t: inout Transition, previous: WorkflowRun?, txn: borrowing WriteTransaction) throws -> [Effect] {
        guard t.run != previous || !t.childrenToStart.isEmpty else { return t.effects }
        // Children first: their ids go into the parent's step.
        for child in t.childrenToStart {
            do {
                let (created, effects) = try createRun(child.workflow, version: nil, inputs: child.input, organizationID: t.organizationID, starterID: t.run.starterID,
                                                       starterName: t.run.starterName, trigger: .workflow,
                                                       parent: WorkflowRun.Parent(runID: t.run.id, node: child.node, index: child.index), rerunOf: nil, txn: txn)
                let children = (t.run.steps[child.node]?.children ?? []) + [created.id]
                t.run.steps[child.node]?.children = children
                t.effects += effects
            } catch {
                failStep(&t, child.node, "could not start workflow \(child.workflow): \(Self.describe(error))", permanent: true)
            }
        }
        t.childrenToStart = []
        t.run.updatedAt = t.now
        let run = t.run
        try txn.put(runs, (run.organizationID, run.id), run)
        for entry in t.logEntries { try txn.put(log, (run.id, UInt64(entry.sequence)), entry) }
        for event in t.events {
            try outbox.record(.workflow(event), organizationID: run.organizationID, time: t.now,
                              audit: Self.auditEntry(event, organizationID: run.organizationID, time: t.now, actor: t.actor), in: txn)
        }
        for (toolRunID, reference) in t.toolWaitsAdded { try txn.put(toolWaits, (run.organizationID, toolRunID), reference) }
        for toolRunID in t.toolWaitsRemoved { _ = try txn.delete(toolWaits, (run.organizationID, toolRunID)) }
        for (kind, node) in t.eventWaitsAdded { try txn.put(eventWaits, (kind.rawValue, run.id, node), run.organizationID) }
        for (kind, node) in t.eventWaitsRemoved { _ = try txn.delete(eventWaits, (kind.rawValue, run.id, node)) }
        for due in Set(t.wakes) {
            let payload = try JSONAny(encoding: WakePayload(organizationID: run.organizationID, runID: run.id))
            try jobs.enqueue(JobRequest(kind: Self.wakeJob, payload: payload, idempotencyKey: "workflow-wake:\(run.id):\(Int64(due.timeIntervalSince1970 * 1000))", dueAt: due), in: txn)
        }
        if previous?.status != run.status || previous == nil {
            if run.status.isFinal {
                _ = try txn.delete(active, (run.organizationID, run.workflow, run.id))
                t.effects += try promoteQueued(workflow: run.workflow, in: run.organizationID, txn: txn)
                if let parent = run.parent, try txn.get(runs, (run.organizationID, parent.runID)) != nil {
                    // The parent's step takes the result in the same transaction.
                    t.effects += try transition(parent.runID, in: run.organizationID, txn: txn) { [self] parentTransition in
                        childEnded(&parentTransition, child: run)
                        advance(&parentTransition)
                    }.1
                }
            } else {
                try txn.put(active, (run.organizationID, run.workflow, run.id), run.status)
            }
        }
        t.logEntries = []
        t.events = []
        t.wakes = []
        t.toolWaitsAdded = []
        t.toolWaitsRemoved = []
        t.eventWaitsAdded = []
        t.eventWaitsRemoved = []
        return t.effects
    }

    /// The oldest queued run of the workflow, when the limit now has room for it.
    @available(*, noasync)
    func promoteQueued(workflow: String, in organizationID: UUID, txn: borrowing WriteTransaction) throws -> [Effect] {
        var running = 0
        var oldestQueued: TimeOrderedID?
        try txn.forEach(active, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, workflow)) { (key, status) throws(KVError) in
            if status == .queued { if oldestQueued == nil { oldestQueued = key.2 } } else { running += 1 }
            return true
        }
        guard let queued = oldestQueued, var run = try txn.get(runs, (organizationID, queued)) else { return [] }
        let limit = try definition(workflow, run.version, in: organizationID, txn: txn).concurrency?.limit ?? Int.max
        guard running < limit else { return [] }
        run.status = .running
        run.updatedAt = clock.now()
        try txn.put(runs, (organizationID, queued), run)
        try txn.put(active, (organizationID, workflow, queued), .running)
        return [.advance(organizationID: organizationID, runID: queued)]
    }

    // MARK: Creating runs

    /// Stores a new run (queued when the workflow is at its concurrency limit and queues).
    @available(*, noasync)
    func createRun(_ workflow: String, version: Int?, inputs: JSONAny, organizationID: UUID, starterID: UUID, starterName: String, trigger: WorkflowRun.Trigger,
                   parent: WorkflowRun.Parent?, rerunOf: TimeOrderedID?, copying: (steps: [String: StepRun], variables: [String: JSONAny])? = nil,
                   actor: Principal? = nil, txn: borrowing WriteTransaction) throws -> (WorkflowRun, [Effect]) {
        guard let stored = try self.version(workflow, version, in: organizationID, txn: txn) else {
            throw PortalError.notFound(version.map { "version \($0) of workflow '\(workflow)'" } ?? "workflow '\(workflow)'")
        }
        if let parent {
            var depth = 1
            var cursor: TimeOrderedID? = parent.runID
            while let id = cursor, let ancestor = try txn.get(runs, (organizationID, id)) {
                depth += 1
                cursor = ancestor.parent?.runID
            }
            guard depth <= Self.maxNesting else { throw PortalError.invalid("workflows nest at most \(Self.maxNesting) deep") }
        }
        let definition = stored.definition
        let prepared: JSONAny
        do { prepared = try JSONSchema(definition.inputs).prepare(inputs) } catch let error as InputError { throw PortalError.invalidInput(error) }
        var status = WorkflowRun.Status.running
        if let limit = definition.concurrency {
            var unfinished = 0
            try txn.forEach(active, prefix: CompositeKey3<UUID, String, TimeOrderedID>.prefix(organizationID, workflow)) { (_, _) throws(KVError) in
                unfinished += 1
                return true
            }
            if unfinished >= limit.limit {
                guard limit.overflow == .queue else { throw PortalError.conflict("'\(workflow)' already has \(unfinished) unfinished runs, its limit") }
                status = .queued
            }
        }
        let now = clock.now()
        let run = WorkflowRun(id: TimeOrderedID.generate(now: now), organizationID: organizationID, workflow: workflow, version: stored.version, status: status,
                              inputs: prepared, variables: copying?.variables ?? definition.variables, steps: copying?.steps ?? [:], starterID: starterID,
                              starterName: starterName, trigger: trigger, parent: parent, rerunOf: rerunOf, createdAt: now, updatedAt: now, finishedAt: nil,
                              error: nil, outputs: nil, logLength: 0)
        var t = Transition(run: run, definition: definition, now: now, actor: actor)
        t.record(status == .queued ? .workflowRunQueued : .workflowRunStarted, status: status.rawValue,
                 detail: "by \(starterName) via \(trigger.rawValue)" + (rerunOf.map { ", re-running \($0)" } ?? ""))
        if status == .running { t.effects.append(.advance(organizationID: organizationID, runID: run.id)) }
        let effects = try commit(&t, previous: nil, txn: txn)
        return (t.run, effects)
    }

    // MARK: Moving a run on

    /// Moves the run as far as it can go now: due timers, then every step whose inputs are
    /// decided, until nothing changes.
    public func advance(_ runID: TimeOrderedID, in organizationID: UUID) async throws {
        let effects = try await environment.write { [self] txn in
            try transition(runID, in: organizationID, txn: txn) { t in advance(&t) }.1
        }
        perform(effects)
    }

    func advance(_ t: inout Transition) {
        guard t.run.status == .running else { return }
        let order = topologicalOrder(t.definition)
        var progressed = true
        while progressed && t.run.status == .running {
            progressed = false
            for node in t.definition.nodes {
                guard let step = t.run.steps[node.id] else { continue }
                if step.status == .retrying, let due = step.dueAt, due <= t.now {
                    start(&t, node, attempt: step.attempts + 1)
                    progressed = true
                } else if step.status == .waiting, node.type == .wait, let due = step.dueAt, due <= t.now {
                    succeed(&t, node.id, output: .object(["waitedUntil": .string(due.ISO8601Format())]))
                    progressed = true
                } else if step.status == .waiting, let approval = step.approval, approval.expiresAt <= t.now {
                    failStep(&t, node.id, "no decision before \(approval.expiresAt.ISO8601Format()): the approval expired", permanent: true)
                    progressed = true
                } else if step.status == .running || step.status == .waiting, let deadline = step.deadline, deadline <= t.now {
                    failStep(&t, node.id, "timed out after \(node.timeoutSeconds ?? 0) s", permanent: false)
                    progressed = true
                }
                guard t.run.status == .running else { return }
            }
            for node in order where t.run.steps[node.id] == nil {
                switch readiness(t, node) {
                case .wait: continue
                case .skip:
                    var skipped = StepRun(status: .skipped, attempts: 0, idempotent: true)
                    skipped.finishedAt = t.now
                    t.run.steps[node.id] = skipped
                case .ready: start(&t, node, attempt: 1)
                case let .unreachable(reason):
                    t.run.steps[node.id] = StepRun(status: .running, attempts: 1, idempotent: true)
                    failStep(&t, node.id, reason, permanent: true)
                }
                progressed = true
                guard t.run.status == .running else { return }
            }
        }
        if t.definition.nodes.allSatisfy({ t.run.steps[$0.id]?.status.isDone ?? false }) { finishRun(&t, .succeeded) }
    }

    enum Readiness { case wait, skip, ready, unreachable(String) }

    /// Whether a step not yet reached can start, from the edges leading to it.
    func readiness(_ t: Transition, _ node: WorkflowNode) -> Readiness {
        let incoming = t.definition.incoming(node.id)
        guard !incoming.isEmpty else { return .ready }
        var taken = 0
        var undecided = 0
        for edge in incoming {
            guard let source = t.run.steps[edge.from], source.status.isDone else { undecided += 1; continue }
            if source.status != .skipped && source.port == edge.outcome { taken += 1 }
        }
        if node.type == .join, case let .join(mode)? = try? StepConfig(node) {
            switch mode {
            case .any: if taken >= 1 { return .ready }
            case let .count(needed):
                if taken >= needed { return .ready }
                if undecided == 0 { return taken == 0 ? .skip : .unreachable("only \(taken) of the \(needed) branches it waits for arrived") }
                return .wait
            case .all: break
            }
        }
        if undecided > 0 { return .wait }
        return taken == 0 ? .skip : .ready
    }

    func topologicalOrder(_ definition: WorkflowDefinition) -> [WorkflowNode] {
        var indegree = Dictionary(uniqueKeysWithValues: definition.nodes.map { ($0.id, 0) })
        for edge in definition.edges { indegree[edge.to, default: 0] += 1 }
        var ready = definition.nodes.filter { indegree[$0.id] == 0 }.map(\.id).reversed() as [String]
        var order: [WorkflowNode] = []
        while let id = ready.popLast() {
            if let node = definition.node(id) { order.append(node) }
            for edge in definition.edges where edge.from == id {
                indegree[edge.to]! -= 1
                if indegree[edge.to] == 0 { ready.insert(edge.to, at: 0) }
            }
        }
        return order
    }

    // MARK: Steps

    /// Starts a step: pure steps finish in this transition; the others begin waiting.
    func start(_ t: inout Transition, _ node: WorkflowNode, attempt: Int) {
        var step = t.run.steps[node.id] ?? StepRun(status: .running, attempts: attempt, idempotent: true)
        step.status = .running
        step.attempts = attempt
        step.port = nil
        step.error = nil
        step.output = nil
        step.dueAt = nil
        step.toolRunID = nil
        step.children = nil
        step.handedOverAt = nil
        step.approval = nil
        step.items = nil
        step.results = nil
        step.completed = nil
        step.input = nil
        step.startedAt = t.now
        step.finishedAt = nil
        step.idempotent = !node.type.isExternal
        step.deadline = node.timeoutSeconds.map { t.now.addingTimeInterval(Double($0)) }
        if let deadline = step.deadline { t.wakes.append(deadline) }
        t.run.steps[node.id] = step
        if !node.type.isInstant { t.record(.workflowStepStarted, node: node.id, status: "running", attempt: attempt) }
        let config: StepConfig
        do { config = try StepConfig(node) } catch { return failStep(&t, node.id, error.description, permanent: true) }
        let scope = t.scope
        do throws(ExpressionError) {
            switch config {
            case let .condition(expression):
                let holds = try expression.holds(scope)
                succeed(&t, node.id, output: .bool(holds), port: holds ? "true" : "false")
            case let .switch(cases):
                var chosen = "default"
                for candidate in cases where try candidate.expression.holds(scope) { chosen = candidate.name; break }
                succeed(&t, node.id, output: .string(chosen), port: chosen)
            case .join:
                succeed(&t, node.id, output: .null)
            case let .set(variables):
                var values: [String: JSONAny] = [:]
                for (name, template) in variables { values[name] = try template.render(scope) }
                t.run.variables.merge(values) { $1 }
                succeed(&t, node.id, output: .object(values))
            case let .notify(message, users):
                let text = try message.render(scope).templateText
                t.effects.append(.notify(organizationID: t.organizationID, runID: t.run.id, workflow: t.run.workflow, users: users, starterID: t.run.starterID,
                                         message: String(text.prefix(2000))))
                succeed(&t, node.id, output: .object(["message": .string(text), "to": .array((users.isEmpty ? [t.run.starterName] : users).map(JSONAny.string))]))
            case let .fail(message):
                let text = try message.render(scope).templateText
                t.run.steps[node.id]?.status = .failed
                t.run.steps[node.id]?.error = text
                t.run.steps[node.id]?.finishedAt = t.now
                t.record(.workflowStepFinished, node: node.id, status: "failed", detail: text, attempt: attempt)
                finishRun(&t, .failed, error: text)
            case .stop:
                succeed(&t, node.id, output: .null, port: "next")
                finishRun(&t, .succeeded)
            case let .tool(_, input):
                let rendered = try input.render(scope)
                t.run.steps[node.id]?.input = rendered
                t.run.steps[node.id]?.idempotent = false
                t.effects.append(.execute(organizationID: t.organizationID, runID: t.run.id, node: node.id, attempt: attempt))
            case let .http(request):
                do {
                    t.run.steps[node.id]?.input = try JSONAny(encoding: try request.render(scope))
                } catch let error as ExpressionError {
                    throw error
                } catch {
                    return failStep(&t, node.id, "the request could not be recorded: \(error)", permanent: true)
                }
                t.run.steps[node.id]?.idempotent = false
                t.effects.append(.execute(organizationID: t.organizationID, runID: t.run.id, node: node.id, attempt: attempt))
            case let .wait(seconds, until):
                let due: Date
                if let seconds { due = t.now.addingTimeInterval(seconds) } else {
                    let text = try until!.render(scope).templateText
                    guard let parsed = RFC3339.date(text) else { return failStep(&t, node.id, "'\(text.prefix(60))' is not an RFC 3339 time", permanent: true) }
                    due = parsed
                }
                t.run.steps[node.id]?.status = .waiting
                t.run.steps[node.id]?.dueAt = due
                t.wakes.append(due)
                if due <= t.now { succeed(&t, node.id, output: .object(["waitedUntil": .string(due.ISO8601Format())])) }
            case let .approval(rule):
                let message = try rule.message.render(scope).templateText
                let expires = t.now.addingTimeInterval(Double(rule.expiresAfterMinutes) * 60)
                t.run.steps[node.id]?.status = .waiting
                t.run.steps[node.id]?.approval = ApprovalState(mode: rule.mode, approvers: rule.approvers, role: rule.role, allowSelfApproval: rule.allowSelfApproval,
                                                               risk: rule.risk, message: message, expiresAt: expires, decisions: [])
                t.wakes.append(expires)
                t.record(.workflowApprovalRequested, node: node.id, status: "waiting", detail: message, attempt: attempt)
            case let .waitEvent(event, _):
                t.run.steps[node.id]?.status = .waiting
                t.eventWaitsAdded.append((event, node.id))
            case let .subWorkflow(workflow, input):
                t.run.steps[node.id]?.status = .waiting
                t.childrenToStart.append((node.id, 0, workflow, try input.render(scope)))
            case let .forEach(itemsExpression, workflow, input, concurrency):
                let items = try itemsExpression.evaluate(scope)
                guard case let .array(list) = items else { return failStep(&t, node.id, "the items are \(items.typeName), not a list", permanent: true) }
                guard list.count <= Self.maxItems else { return failStep(&t, node.id, "\(list.count) items: at most \(Self.maxItems)", permanent: true) }
                if list.isEmpty { return succeed(&t, node.id, output: .array([])) }
                t.run.steps[node.id]?.status = .waiting
                t.run.steps[node.id]?.items = list
                t.run.steps[node.id]?.results = Array(repeating: .null, count: list.count)
                for index in 0..<min(concurrency, list.count) {
                    t.childrenToStart.append((node.id, index, workflow, try childInput(input, scope: scope, item: list[index], index: index)))
                }
            case let .while(condition, until, workflow, input, _):
                var roundScope = scope
                roundScope["iteration"] = .number(0)
                roundScope["last"] = .null
                guard try condition.holds(roundScope) != until else { return succeed(&t, node.id, output: .object(["iterations": .number(0), "last": .null])) }
                t.run.steps[node.id]?.status = .waiting
                t.childrenToStart.append((node.id, 0, workflow, try childInput(input, scope: scope, item: .null, index: 0)))
            }
        } catch {
            failStep(&t, node.id, "expression: \(error.description)", permanent: true)
        }
    }

    /// A for-each or while child's inputs: the mapped template, with `item` and `index`
    /// readable in it and added when the mapping is empty.
    func childInput(_ template: ValueTemplate, scope: [String: JSONAny], item: JSONAny, index: Int) throws(ExpressionError) -> JSONAny {
        var scope = scope
        scope["item"] = item
        scope["index"] = .number(Double(index))
        if template.value == .object([:]) { return .object(["item": item, "index": .number(Double(index))]) }
        return try template.render(scope)
    }

    /// Records a step's success and the port it leaves by.
    func succeed(_ t: inout Transition, _ id: String, output: JSONAny, port: String = "next") {
        guard var step = t.run.steps[id] else { return }
        step.status = .succeeded
        step.output = output
        step.port = port
        step.finishedAt = t.now
        step.dueAt = nil
        step.deadline = nil
        if let started = step.startedAt { step.durationMilliseconds = t.now.timeIntervalSince(started) * 1000 }
        t.run.steps[id] = step
        t.record(.workflowStepFinished, node: id, status: "succeeded", detail: port == "next" ? "" : "→ \(port)", attempt: step.attempts)
    }

    /// Records a step's failure: tried again by its retry policy (unless `permanent`), then
    /// handled by its failure action.
    func failStep(_ t: inout Transition, _ id: String, _ message: String, permanent: Bool) {
        guard var step = t.run.steps[id], let node = t.definition.node(id) else { return }
        cleanUpWaits(&t, id)
        step.error = String(message.prefix(4000))
        step.deadline = nil
        if let started = step.startedAt { step.durationMilliseconds = t.now.timeIntervalSince(started) * 1000 }
        if !permanent, let retry = node.retry, step.attempts < retry.attempts {
            step.status = .retrying
            step.dueAt = t.now.addingTimeInterval(retry.delay(after: step.attempts))
            t.wakes.append(step.dueAt!)
            t.run.steps[id] = step
            t.record(.workflowStepFinished, node: id, status: "retrying", detail: message, attempt: step.attempts)
            return
        }
        step.status = .failed
        step.finishedAt = t.now
        switch node.failureAction {
        case .stop: step.port = nil
        case .continue: step.port = "next"
        case .handler: step.port = "error"
        }
        t.run.steps[id] = step
        t.record(.workflowStepFinished, node: id, status: "failed", detail: message, attempt: step.attempts)
        if node.failureAction == .stop { finishRun(&t, .failed, error: "step \(id) failed: \(message)") }
    }

    /// Removes what a step waited on (a tool run, withdrawn while it still waits for approval;
    /// an event).
    func cleanUpWaits(_ t: inout Transition, _ id: String) {
        guard let step = t.run.steps[id], let node = t.definition.node(id) else { return }
        if let toolRunID = step.toolRunID {
            t.toolWaitsRemoved.append(toolRunID)
            if step.status == .waiting {
                t.effects.append(.withdrawToolRun(organizationID: t.organizationID, toolRunID: toolRunID, reason: "step \(id) of workflow run \(t.run.id) ended without it"))
            }
        }
        if case let .waitEvent(event, _)? = try? StepConfig(node), step.status == .waiting { t.eventWaitsRemoved.append((event, id)) }
    }

    /// Ends the run; steps still under way are cancelled (their late results are ignored),
    /// their child runs cancelled too.
    func finishRun(_ t: inout Transition, _ status: WorkflowRun.Status, error: String? = nil) {
        guard !t.run.status.isFinal else { return }
        for id in t.run.steps.keys.sorted() {
            guard let step = t.run.steps[id], [.running, .waiting, .retrying].contains(step.status) else { continue }
            cleanUpWaits(&t, id)
            for child in step.children ?? [] {
                t.effects.append(.cancel(organizationID: t.organizationID, runID: child, reason: "its parent run ended"))
            }
            t.run.steps[id]?.status = .cancelled
            t.run.steps[id]?.finishedAt = t.now
            t.run.steps[id]?.deadline = nil
        }
        t.run.status = status
        t.run.finishedAt = t.now
        t.run.error = error
        if status == .succeeded {
            var outputs: [String: JSONAny] = [:]
            let scope = t.scope
            for (name, template) in t.definition.outputs {
                do { outputs[name] = try ValueTemplate(template).render(scope) } catch {
                    t.run.status = .failed
                    t.run.error = "output \(name): \(error.description)"
                }
            }
            t.run.outputs = .object(outputs)
        }
        let kind: EventKind = switch t.run.status {
        case .succeeded: .workflowRunSucceeded
        case .cancelled: .workflowRunCancelled
        default: .workflowRunFailed
        }
        t.record(kind, status: t.run.status.rawValue, detail: t.run.error ?? "")
    }

    // MARK: Children

    /// A child run ended: its parent's step takes the result and may start the next child.
    func childEnded(_ t: inout Transition, child: WorkflowRun) {
        guard let parent = child.parent, var step = t.run.steps[parent.node], step.status == .waiting, (step.children ?? []).contains(child.id),
              let node = t.definition.node(parent.node), let config = try? StepConfig(node) else { return }
        let failure = child.status == .succeeded ? nil : "run \(child.id) of \(child.workflow) \(child.status.rawValue)" + (child.error.map { ": \($0)" } ?? "")
        let outputs = child.outputs ?? .null
        switch config {
        case .subWorkflow:
            if let failure { return failStep(&t, parent.node, failure, permanent: false) }
            succeed(&t, parent.node, output: outputs)
        case let .forEach(_, workflow, input, _):
            if let failure {
                failStep(&t, parent.node, "item \(parent.index): \(failure)", permanent: false)
                return
            }
            step.results?[parent.index] = outputs
            step.completed = (step.completed ?? 0) + 1
            t.run.steps[parent.node] = step
            let items = step.items ?? []
            let started = step.children?.count ?? 0
            if started < items.count {
                do {
                    t.childrenToStart.append((parent.node, started, workflow, try childInput(input, scope: t.scope, item: items[started], index: started)))
                } catch { failStep(&t, parent.node, "expression: \(error.description)", permanent: true) }
            } else if step.completed == items.count {
                succeed(&t, parent.node, output: .array(step.results ?? []))
            }
        case let .while(condition, until, workflow, input, maxIterations):
            if let failure { return failStep(&t, parent.node, "round \(parent.index + 1): \(failure)", permanent: false) }
            let rounds = parent.index + 1
            var scope = t.scope
            scope["iteration"] = .number(Double(rounds))
            scope["last"] = outputs
            do {
                if try condition.holds(scope) == until {
                    return succeed(&t, parent.node, output: .object(["iterations": .number(Double(rounds)), "last": outputs]))
                }
                guard rounds < maxIterations else {
                    return failStep(&t, parent.node, "the condition still \(until ? "did not hold" : "held") after \(maxIterations) rounds", permanent: true)
                }
                t.childrenToStart.append((parent.node, rounds, workflow, try childInput(input, scope: scope, item: .null, index: rounds)))
            } catch { failStep(&t, parent.node, "expression: \(error.description)", permanent: true) }
        default:
            break
        }
    }

    // MARK: Effects

    func perform(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case let .execute(organizationID, runID, node, attempt):
                jobs.detach { [self] in await execute(runID, node: node, attempt: attempt, in: organizationID) }
            case let .advance(organizationID, runID):
                jobs.detach { [self] in
                    do { try await advance(runID, in: organizationID) } catch { logger.error("moving a workflow run on failed", metadata: ["run": "\(runID)", "error": "\(error)"]) }
                }
            case let .cancel(organizationID, runID, reason):
                jobs.detach { [self] in
                    do { _ = try await cancel(runID, in: organizationID, reason: reason, by: nil) } catch {
                        logger.error("cancelling a child run failed", metadata: ["run": "\(runID)", "error": "\(error)"])
                    }
                }
            case let .withdrawToolRun(organizationID, toolRunID, reason):
                jobs.detach { [self] in
                    do { try await toolRuns.withdraw(toolRunID, in: organizationID, reason: reason) } catch {
                        logger.error("withdrawing a workflow step's tool run failed", metadata: ["run": "\(toolRunID)", "error": "\(error)"])
                    }
                }
            case let .notify(organizationID, runID, workflow, users, starterID, message):
                let members = users.compactMap { name -> UUID? in
                    guard let user = try? accounts.user(named: name), (try? organizations.role(of: user.id, in: organizationID)) != nil else { return nil }
                    return user.id
                }
                notifications.publish(PortalNotification(kind: .workflowStepFinished, organizationID: organizationID, runID: runID.description, tool: workflow,
                                                         status: "notify", audience: .users(Set(users.isEmpty ? [starterID] : members)), detail: message))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PortalError { return error.message }
        if let error = error as? ToolError { return error.description }
        return "\(error)"
    }
}
