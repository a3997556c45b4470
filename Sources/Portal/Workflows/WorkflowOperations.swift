public import FoundationEssentials
public import KV
import Logging
import Synchronization

/// Starting runs, what people do to them (cancel, pause, resume, retry, re-run, decide),
/// reading them, tool results, events and start-up.
extension Workflows {
    // MARK: Starting

    /// Starts a run of the workflow's latest version (or `version`) as `principal`, who
    /// needs `tools:run`. Inputs are checked against the version's schema.
    public func start(_ workflow: String, version: Int? = nil, inputs: JSONAny, by principal: Principal, trigger: WorkflowRun.Trigger = .api) async throws -> WorkflowRun {
        let organizationID = try Self.organization(of: principal, needing: .toolsRun)
        let (run, effects) = try await environment.write { [self] txn in
            try createRun(workflow, version: version, inputs: inputs, organizationID: organizationID, starterID: principal.user.id, starterName: principal.user.username,
                          trigger: trigger, parent: nil, rerunOf: nil, actor: principal, txn: txn)
        }
        perform(effects.filter { if case .advance(_, run.id) = $0 { false } else { true } })
        if run.status == .running { try await advance(run.id, in: organizationID) }
        return try self.run(run.id, in: organizationID) ?? run
    }

    /// A schedule trigger's run, as the workflow's owner (who saved its latest version).
    func startScheduled(_ payload: SchedulePayload) async throws {
        guard let summary = try summary(payload.workflow, in: payload.organizationID),
              let latest = try version(payload.workflow, nil, in: payload.organizationID),
              payload.trigger < latest.definition.triggers.count else { return }
        guard let owner = try ownerPrincipal(summary, in: payload.organizationID) else {
            throw PermanentJobFailure("the owner of workflow \(payload.workflow) is no longer a member who may run it")
        }
        let inputs = try ValueTemplate(latest.definition.triggers[payload.trigger].inputs ?? .object([:])).render([:])
        _ = try await start(payload.workflow, inputs: inputs, by: owner, trigger: .schedule)
    }

    func ownerPrincipal(_ summary: WorkflowSummary, in organizationID: UUID) throws -> Principal? {
        guard let user = try accounts.user(id: summary.ownerID), let role = try organizations.role(of: user.id, in: organizationID) else { return nil }
        let principal = Principal.member(user, of: organizationID, as: role)
        return principal.has(.toolsRun) ? principal : nil
    }

    // MARK: Reading

    public func run(_ id: TimeOrderedID, in organizationID: UUID) throws -> WorkflowRun? {
        try environment.read { txn in try txn.get(runs, (organizationID, id)) }
    }

    /// The run's history, oldest first, after `sequence`.
    public func log(of id: TimeOrderedID, after sequence: Int = 0, limit: Int = 1000) throws -> [WorkflowLogEntry] {
        try environment.read { txn in
            var entries: [WorkflowLogEntry] = []
            try txn.forEach(log, from: (id, UInt64(sequence + 1)), to: (id, UInt64.max)) { (_, entry) throws(KVError) in
                entries.append(entry)
                return entries.count < limit
            }
            return entries
        }
    }

    public struct RunFilter: Sendable {
        public var workflow: String?
        public var status: WorkflowRun.Status?
        public var starter: String?
        public init(workflow: String? = nil, status: WorkflowRun.Status? = nil, starter: String? = nil) {
            self.workflow = workflow
            self.status = status
            self.starter = starter
        }
    }

    /// The organization's runs, newest first; `before` continues a page.
    public func runs(in organizationID: UUID, filter: RunFilter = RunFilter(), limit: Int = 50, before: TimeOrderedID? = nil) throws -> [WorkflowRun] {
        try environment.read { txn in
            var found: [WorkflowRun] = []
            var scanned = 0
            try txn.forEach(runs, from: (organizationID, .lowest), to: (organizationID, before ?? .highest), direction: .reverse) { (_, run) throws(KVError) in
                scanned += 1
                if (filter.workflow.map { run.workflow == $0 } ?? true) && (filter.status.map { run.status == $0 } ?? true)
                    && (filter.starter.map { run.starterName == $0 } ?? true) { found.append(run) }
                return found.count < limit && scanned < 100_000
            }
            return found
        }
    }

    /// Waits until the run is final (or needs attention) or `timeout` passes; returns it as
    /// it then stands.
    public func waitUntilSettled(_ id: TimeOrderedID, in organizationID: UUID, timeout: Duration) async throws -> WorkflowRun? {
        guard try run(id, in: organizationID) != nil else { return nil }
        await notifications.wait(forRun: id.description, timeout: timeout) { [self] in
            guard let run = try? run(id, in: organizationID) else { return true }
            return run.status.isFinal || run.status == .needsAttention
        }
        return try run(id, in: organizationID)
    }

    // MARK: Operations

    /// Cancels an unfinished run (and its child runs). `by: nil` is the portal itself (a
    /// parent run that ended). The run's starter or someone with `workflows:manage` may.
    @discardableResult
    public func cancel(_ id: TimeOrderedID, in organizationID: UUID, reason: String, by principal: Principal?) async throws -> WorkflowRun {
        try await operate(id, in: organizationID, by: principal, allowedFrom: [.queued, .running, .paused, .needsAttention], verb: "cancel") { [self] t in
            finishRun(&t, .cancelled, error: reason.isEmpty ? "cancelled" + (principal.map { " by \($0.user.username)" } ?? "") : String(reason.prefix(500)))
        }
    }

    /// Starts no further step until resumed; steps under way finish and are recorded.
    @discardableResult
    public func pause(_ id: TimeOrderedID, in organizationID: UUID, by principal: Principal) async throws -> WorkflowRun {
        try await operate(id, in: organizationID, by: principal, allowedFrom: [.running], verb: "pause") { t in
            t.run.status = .paused
            t.record(.workflowRunPaused, status: "paused", detail: "by \(principal.user.username)")
        }
    }

    @discardableResult
    public func resume(_ id: TimeOrderedID, in organizationID: UUID, by principal: Principal) async throws -> WorkflowRun {
        try await operate(id, in: organizationID, by: principal, allowedFrom: [.paused], verb: "resume") { [self] t in
            t.run.status = .running
            t.record(.workflowRunResumed, status: "running", detail: "by \(principal.user.username)")
            advance(&t)
        }
    }

    /// Goes on with a failed run (or one that needs attention) from the step that failed (or
    /// the one that was cut off): those steps start again with fresh attempts.
    @discardableResult
    public func retry(_ id: TimeOrderedID, in organizationID: UUID, by principal: Principal) async throws -> WorkflowRun {
        try await operate(id, in: organizationID, by: principal, allowedFrom: [.failed, .needsAttention], verb: "retry") { [self] t in
            for (stepID, step) in t.run.steps {
                let cutOff = t.run.status == .needsAttention && step.status == .running
                if (step.status == .failed && step.port == nil) || step.status == .cancelled || cutOff {
                    cleanUpWaits(&t, stepID)
                    t.run.steps[stepID] = nil
                }
            }
            t.run.status = .running
            t.run.error = nil
            t.run.finishedAt = nil
            t.record(.workflowRunResumed, status: "running", detail: "retried by \(principal.user.username)")
            advance(&t)
        }
    }

    /// A new run that starts at `node`: the steps that do not follow from it keep the
    /// original run's results (and its variables as they ended), on the same version or on the
    /// latest one (where steps are matched by id).
    public func rerun(_ id: TimeOrderedID, from node: String, onLatestVersion: Bool, in organizationID: UUID, by principal: Principal) async throws -> WorkflowRun {
        _ = try Self.organization(of: principal, needing: .toolsRun)
        let (run, effects) = try await environment.write { [self] txn -> (WorkflowRun, [Effect]) in
            guard let original = try txn.get(runs, (organizationID, id)) else { throw PortalError.notFound("workflow run \(id)") }
            guard original.status.isFinal || original.status == .needsAttention else { throw PortalError.conflict("the run is \(original.status.rawValue): re-run a finished one") }
            guard let target = try version(original.workflow, onLatestVersion ? nil : original.version, in: organizationID, txn: txn) else {
                throw PortalError.notFound("workflow '\(original.workflow)' (it was deleted)")
            }
            guard target.definition.node(node) != nil else { throw PortalError.unprocessable("version \(target.version) has no step '\(node)'") }
            let redo = target.definition.downstream(of: node)
            var kept: [String: StepRun] = [:]
            for step in target.definition.nodes where !redo.contains(step.id) {
                if let previous = original.steps[step.id], previous.status.isDone { kept[step.id] = previous }
            }
            return try createRun(original.workflow, version: target.version, inputs: original.inputs, organizationID: organizationID, starterID: principal.user.id,
                                 starterName: principal.user.username, trigger: .rerun, parent: nil, rerunOf: original.id,
                                 copying: (kept, original.variables), actor: principal, txn: txn)
        }
        perform(effects)
        return run
    }

    /// A person's decision on an approval step.
    @discardableResult
    public func decide(_ id: TimeOrderedID, node: String, approve: Bool, comment: String, in organizationID: UUID, by principal: Principal) async throws -> WorkflowRun {
        guard principal.organizationID == organizationID else { throw PortalError.notFound("workflow run \(id)") }
        guard comment.count <= 2000 else { throw PortalError.unprocessable("a comment has at most 2000 characters") }
        let (run, effects) = try await environment.write { [self] txn in
            try transition(id, in: organizationID, actor: principal, txn: txn) { [self] t in
                guard var step = t.run.steps[node], step.status == .waiting, var approval = step.approval, !t.run.status.isFinal else {
                    throw PortalError.conflict("step \(node) is not waiting for a decision")
                }
                try checkEligible(principal, for: approval, run: t.run)
                approval.decisions.append(WorkflowDecision(userID: principal.user.id, username: principal.user.username, approved: approve, comment: comment, time: t.now))
                step.approval = approval
                t.run.steps[node] = step
                t.record(.workflowApprovalDecided, node: node, status: approve ? "approved" : "rejected",
                         detail: "\(principal.user.username)" + (comment.isEmpty ? "" : ": \(comment)"))
                let output: JSONAny = .object(["approved": .bool(approve), "decisions": .array(approval.decisions.map {
                    .object(["user": .string($0.username), "approved": .bool($0.approved), "comment": .string($0.comment)])
                })])
                if !approve {
                    failStep(&t, node, "rejected by \(principal.user.username)" + (comment.isEmpty ? "" : ": \(comment)"), permanent: true)
                } else if approval.mode == .anyOne || Set(approval.approvers).isSubset(of: Set(approval.decisions.filter(\.approved).map(\.username))) {
                    succeed(&t, node, output: output)
                }
                advance(&t)
            }
        }
        perform(effects)
        return run
    }

    func checkEligible(_ principal: Principal, for approval: ApprovalState, run: WorkflowRun) throws {
        if principal.user.id == run.starterID && (!approval.allowSelfApproval || approval.risk >= .high) {
            throw PortalError.forbidden("the person who started the run may not approve its \(approval.risk.rawValue)-risk step")
        }
        if approval.decisions.contains(where: { $0.userID == principal.user.id }) { throw PortalError.conflict("you already decided") }
        if !approval.approvers.isEmpty {
            guard approval.approvers.contains(principal.user.username) else { throw PortalError.forbidden("only \(approval.approvers.joined(separator: ", ")) may decide") }
        } else if let role = approval.role {
            guard principal.user.isAdministrator || (principal.role.map { $0 >= role } ?? false) else { throw PortalError.forbidden("deciding needs the \(role.rawValue) role") }
        } else {
            guard principal.has(.approvalsDecide) else { throw PortalError.forbidden("deciding needs the approvals:decide permission") }
        }
    }

    /// One change by a person, allowed from some statuses (409 naming them otherwise).
    func operate(_ id: TimeOrderedID, in organizationID: UUID, by principal: Principal?, allowedFrom: Set<WorkflowRun.Status>, verb: String,
                 _ body: @escaping @Sendable (inout Transition) throws -> Void) async throws -> WorkflowRun {
        if let principal { guard principal.organizationID == organizationID else { throw PortalError.notFound("workflow run \(id)") } }
        let (run, effects) = try await environment.write { [self] txn in
            try transition(id, in: organizationID, actor: principal, txn: txn) { t in
                if let principal, principal.user.id != t.run.starterID, !principal.has(.workflowsManage) {
                    throw PortalError.forbidden("only the person who started the run, or someone with workflows:manage, may \(verb) it")
                }
                guard allowedFrom.contains(t.run.status) else {
                    throw PortalError.conflict("cannot \(verb) a run that is \(t.run.status.rawValue) (only one that is \(allowedFrom.map(\.rawValue).sorted().joined(separator: " or ")))")
                }
                try body(&t)
            }
        }
        perform(effects)
        return run
    }

    // MARK: Steps done outside the portal (tools, HTTP requests)

    /// Records that a step is handed over, with whether repeating it is safe, in one write: a
    /// crash after it leaves a step whose effect is unknown. Returns the run and the step's
    /// input, or `nil` when the step moved on meanwhile (cancelled, timed out, handed over).
    func handOver(_ runID: TimeOrderedID, node: String, attempt: Int, in organizationID: UUID, repeatable: Bool) async throws -> (run: WorkflowRun, input: JSONAny)? {
        try await environment.write { [self] txn -> (WorkflowRun, JSONAny)? in
            var handed: (WorkflowRun, JSONAny)?
            _ = try transition(runID, in: organizationID, txn: txn) { t in
                guard t.run.status == .running || t.run.status == .paused, var step = t.run.steps[node], step.status == .running, step.attempts == attempt,
                      step.handedOverAt == nil else { return }
                step.handedOverAt = t.now
                step.idempotent = repeatable
                t.run.steps[node] = step
                handed = (t.run, step.input ?? .object([:]))
            }
            return handed
        }
    }

    /// The step's settings in the run's version, when it is still there.
    func stepConfig(_ runID: TimeOrderedID, node: String, in organizationID: UUID) throws -> StepConfig? {
        guard let current = try run(runID, in: organizationID) else { return nil }
        return try environment.read { txn in
            try definition(current.workflow, current.version, in: organizationID, txn: txn).node(node).flatMap { try? StepConfig($0) }
        }
    }

    /// Carries out a step done outside the portal.
    func execute(_ runID: TimeOrderedID, node: String, attempt: Int, in organizationID: UUID) async {
        do {
            switch try stepConfig(runID, node: node, in: organizationID) {
            case let .tool(name, _)?: try await executeTool(runID, tool: name, node: node, attempt: attempt, in: organizationID)
            case let .http(request)?: try await executeHTTP(runID, request: request, node: node, attempt: attempt, in: organizationID)
            default: return
            }
        } catch {
            logger.error("a workflow step could not be recorded", metadata: ["run": "\(runID)", "step": "\(node)", "error": "\(error)"])
        }
    }

    /// Hands a tool step to the tool as the run's starter, and records what came back.
    func executeTool(_ runID: TimeOrderedID, tool: String, node: String, attempt: Int, in organizationID: UUID) async throws {
        let repeatable = try toolRuns.catalog.tool(named: tool, in: organizationID)?.risk == .read
        guard let handed = try await handOver(runID, node: node, attempt: attempt, in: organizationID, repeatable: repeatable) else { return }
        let outcome: Result<ToolRun, any Error>
        if let principal = try starterPrincipal(handed.run) {
            do {
                outcome = .success(try await toolRuns.request(ToolRuns.RunRequest(principal: principal, tool: tool, input: handed.input, entryPoint: .workflow,
                                                                                  requestID: "workflow-run:\(runID):\(node):\(attempt)")))
            } catch { outcome = .failure(error) }
        } else {
            outcome = .failure(PortalError.forbidden("\(handed.run.starterName) can no longer run tools in this organization"))
        }
        let effects = try await environment.write { [self] txn in
            try transition(runID, in: organizationID, txn: txn) { [self] t in
                guard var step = t.run.steps[node], step.status == .running, step.attempts == attempt, !t.run.status.isFinal else { return }
                switch outcome {
                case let .failure(error):
                    failStep(&t, node, Self.describe(error), permanent: true)
                case let .success(toolRun) where toolRun.status == .pendingApproval:
                    step.status = .waiting
                    step.toolRunID = toolRun.id
                    t.run.steps[node] = step
                    t.toolWaitsAdded.append((toolRun.id, StepReference(runID: runID, node: node, attempt: attempt)))
                    t.record(.workflowStepStarted, node: node, status: "waiting", detail: "tool run \(toolRun.id) waits for approval", attempt: attempt)
                case let .success(toolRun):
                    step.toolRunID = toolRun.id
                    t.run.steps[node] = step
                    toolFinished(&t, node, toolRun)
                }
                advance(&t)
            }.1
        }
        perform(effects)
    }

    /// Sends an HTTP step's request (rendered when the step started) and records the answer:
    /// success for an expected status, otherwise a failure its retry policy may repeat, with
    /// the answer as the step's output either way.
    func executeHTTP(_ runID: TimeOrderedID, request: HTTPRequestStep, node: String, attempt: Int, in organizationID: UUID) async throws {
        guard let handed = try await handOver(runID, node: node, attempt: attempt, in: organizationID, repeatable: request.isIdempotent) else { return }
        let timeout = min(handed.run.steps[node]?.deadline.map { max(1, Int($0.timeIntervalSince(clock.now()).rounded(.up))) } ?? 30, 300)
        let outcome = await send(handed.input, request: request, timeoutSeconds: timeout)
        let effects = try await environment.write { [self] txn in
            try transition(runID, in: organizationID, txn: txn) { [self] t in
                guard let step = t.run.steps[node], step.status == .running, step.attempts == attempt, !t.run.status.isFinal else { return }
                switch outcome {
                case let .answered(output, expected: true): succeed(&t, node, output: output)
                case let .answered(output, expected: false):
                    t.run.steps[node]?.output = output
                    let status = output["status"]?.integer ?? 0
                    failStep(&t, node, (300..<400).contains(status) ? "answered with a redirect (\(status)), which is not followed" : "answered \(status)", permanent: false)
                case let .failed(message, permanent): failStep(&t, node, message, permanent: permanent)
                }
                advance(&t)
            }.1
        }
        perform(effects)
    }

    enum HTTPOutcome {
        case answered(JSONAny, expected: Bool)
        case failed(String, permanent: Bool)
    }

    /// One request of an HTTP step, to the checked address of its URL.
    func send(_ input: JSONAny, request: HTTPRequestStep, timeoutSeconds: Int) async -> HTTPOutcome {
        let rendered: HTTPRequestStep.Rendered
        do { rendered = try input.decode(as: HTTPRequestStep.Rendered.self) } catch { return .failed("the step's request could not be read: \(error)", permanent: true) }
        if let bad = rendered.headers.first(where: { $0.value.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" } }) {
            return .failed("header \(bad.key): a value may not hold line breaks", permanent: true)
        }
        let checked: (target: WebhookTargets.Target, address: String)
        do {
            let targets = outboundTargets
            let url = rendered.url
            checked = try await onOwnThread("portal.workflow-http") { try targets.resolve(url) }
        } catch { return .failed(Self.describe(error), permanent: true) }
        var headers = rendered.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var body: [UInt8]?
        if let encoded = rendered.encoded {
            body = encoded.bytes
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", encoded.contentType)) }
        }
        var client = http
        client.timeout = .seconds(timeoutSeconds)
        client.maximumBodyBytes = request.maxResponseBytes
        let started = ContinuousClock.now
        let response: OutboundHTTP.Response
        do {
            response = try await client.send(url: rendered.url, method: rendered.method, headers: headers, body: body, pinned: (checked.target.host, checked.address))
        } catch {
            return .failed(error.description, permanent: false)
        }
        let took = started.duration(to: .now)
        let text = String(decoding: response.body, as: UTF8.self)
        let output: JSONAny = .object([
            "status": .number(Double(response.status)),
            "headers": .object(response.headers.mapValues(JSONAny.string)),
            "body": JSONAny(json: response.body) ?? .string(text),
            "durationMilliseconds": .number((Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15).rounded()),
        ])
        let expected = request.expectStatus.isEmpty ? (200..<300).contains(response.status) : request.expectStatus.contains(response.status)
        return .answered(output, expected: expected)
    }

    func starterPrincipal(_ run: WorkflowRun) throws -> Principal? {
        guard let user = try accounts.user(id: run.starterID), let role = try organizations.role(of: user.id, in: run.organizationID) else { return nil }
        return Principal.member(user, of: run.organizationID, as: role)
    }

    /// A tool run's end as the step's result.
    func toolFinished(_ t: inout Transition, _ node: String, _ toolRun: ToolRun) {
        if let toolRunID = t.run.steps[node]?.toolRunID, t.run.steps[node]?.status == .waiting { t.toolWaitsRemoved.append(toolRunID) }
        t.run.steps[node]?.status = .running
        let output = toolRun.output.map { $0.json ?? .string($0.text) } ?? .null
        switch toolRun.status {
        case .succeeded: succeed(&t, node, output: output)
        case .failed:
            t.run.steps[node]?.output = output
            failStep(&t, node, "tool run \(toolRun.id) failed: \(toolRun.output?.error.prefix(500) ?? "")", permanent: false)
        case .rejected, .expired, .cancelled:
            failStep(&t, node, "tool run \(toolRun.id) was \(toolRun.status.rawValue)", permanent: true)
        case .interrupted:
            if t.run.steps[node]?.idempotent == true {
                failStep(&t, node, "tool run \(toolRun.id) was interrupted by a stop of the portal", permanent: false)
            } else {
                needsAttention(&t, "step \(node): tool run \(toolRun.id) was interrupted by a stop of the portal; whether it took effect is unknown")
            }
        case .running, .pendingApproval: break
        }
    }

    func needsAttention(_ t: inout Transition, _ reason: String) {
        t.run.status = .needsAttention
        t.run.error = reason
        t.record(.workflowRunNeedsAttention, status: "needs-attention", detail: reason)
    }

    // MARK: Events

    /// The outbox consumer that moves runs on by events: tool runs that waited for approval
    /// ended, steps waiting for an event, and event triggers. Runs in the transaction that
    /// moves the consumer's cursor, so each event acts exactly once.
    func eventConsumer(outbox: Outbox) -> EventConsumer {
        EventConsumer("workflows", outbox: outbox, handle: { [self] entries, txn in
            var effects: [Effect] = []
            for entry in entries {
                guard let organizationID = entry.organizationID else { continue }
                if case let .runFinished(event) = entry.event, let reference = try txn.get(toolWaits, (organizationID, event.runID)),
                   let toolRun = try txn.get(toolRuns.runs, (organizationID, event.runID)) {
                    effects += try transition(reference.runID, in: organizationID, txn: txn) { [self] t in
                        guard t.run.steps[reference.node]?.status == .waiting, t.run.steps[reference.node]?.toolRunID == event.runID else { return }
                        toolFinished(&t, reference.node, toolRun)
                        advance(&t)
                    }.1
                }
                effects += try eventArrived(entry, organizationID: organizationID, txn: txn)
            }
            txn.afterCommit { [self] in perform(effects) }
        })
    }

    @available(*, noasync)
    func eventArrived(_ entry: OutboxEntry, organizationID: UUID, txn: borrowing WriteTransaction) throws -> [Effect] {
        var effects: [Effect] = []
        let kind = entry.event.kind
        let payload = (try? JSONAny(encoding: entry.event)) ?? .null
        var waiting: [(TimeOrderedID, String)] = []
        try txn.forEach(eventWaits, prefix: CompositeKey3<String, TimeOrderedID, String>.prefix(kind.rawValue)) { (key, organization) throws(KVError) in
            if organization == organizationID { waiting.append((key.1, key.2)) }
            return true
        }
        for (runID, node) in waiting {
            if case let .workflow(event) = entry.event, event.runID == runID { continue }
            effects += try transition(runID, in: organizationID, txn: txn) { [self] t in
                guard t.run.steps[node]?.status == .waiting, let definition = t.definition.node(node), case let .waitEvent(_, condition)? = try? StepConfig(definition) else { return }
                var scope = t.scope
                scope["event"] = payload
                do throws(ExpressionError) {
                    if let condition, try !condition.holds(scope) { return }
                } catch { return failStep(&t, node, "condition: \(error.description)", permanent: true) }
                t.eventWaitsRemoved.append((kind, node))
                succeed(&t, node, output: payload)
                advance(&t)
            }.1
        }
        for (workflow, trigger) in try triggers(in: organizationID, txn: txn) where trigger.event == kind.rawValue {
            if case let .workflow(event) = entry.event, event.workflow == workflow { continue }
            let scope: [String: JSONAny] = ["event": payload]
            do {
                if let condition = trigger.condition, try !Expression(condition).holds(scope) { continue }
                guard let summary = try txn.get(summaries, (organizationID, workflow)), let user = try txn.get(accounts.users.table, summary.ownerID) else { continue }
                let inputs = try ValueTemplate(trigger.inputs ?? .object([:])).render(scope)
                effects += try createRun(workflow, version: nil, inputs: inputs, organizationID: organizationID, starterID: user.id, starterName: user.username,
                                         trigger: .event, parent: nil, rerunOf: nil, txn: txn).1
            } catch {
                logger.warning("an event trigger did not start its workflow", metadata: ["workflow": "\(workflow)", "event": "\(kind.rawValue)", "error": "\(error)"])
            }
        }
        return effects
    }

    /// The event triggers of every workflow's latest version in the organization.
    @available(*, noasync)
    func triggers(in organizationID: UUID, txn: borrowing WriteTransaction) throws -> [(workflow: String, trigger: WorkflowTrigger)] {
        if let cached = triggerCache.withLock({ $0?[organizationID] }) { return cached }
        var found: [(String, WorkflowTrigger)] = []
        var summariesFound: [WorkflowSummary] = []
        try txn.forEach(summaries, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (_, summary) throws(KVError) in
            summariesFound.append(summary)
            return true
        }
        for summary in summariesFound {
            guard let latest = try txn.get(versions, (organizationID, summary.name, UInt64(summary.latestVersion))) else { continue }
            for trigger in latest.definition.triggers where trigger.type == .event && trigger.isEnabled { found.append((summary.name, trigger)) }
        }
        triggerCache.withLock { cache in
            var all = cache ?? [:]
            all[organizationID] = found
            cache = all
        }
        return found
    }

    // MARK: Start-up

    /// Goes on with every unfinished run after a start: tool steps cut off by the stop are
    /// started again when that is safe, otherwise their run needs attention; then each run
    /// moves on (timers that fell due while the portal was stopped fire now).
    public func resumeAfterStart() async throws {
        let unfinished = try environment.read { txn in
            var found: [(UUID, TimeOrderedID)] = []
            try txn.forEach(active) { (key, status) throws(KVError) in
                if status == .running || status == .paused { found.append((key.0, key.2)) }
                return true
            }
            return found
        }
        for batch in stride(from: 0, to: unfinished.count, by: 100).map({ Array(unfinished[$0..<min($0 + 100, unfinished.count)]) }) {
            let effects = try await environment.write { [self] txn in
                var effects: [Effect] = []
                for (organizationID, runID) in batch {
                    effects += try transition(runID, in: organizationID, txn: txn) { [self] t in
                        for id in t.run.steps.keys.sorted() {
                            guard let step = t.run.steps[id], step.status == .running, step.toolRunID == nil,
                                  t.definition.node(id)?.type.isExternal == true else { continue }
                            if step.handedOverAt == nil || step.idempotent {
                                t.run.steps[id]?.handedOverAt = nil
                                t.run.steps[id]?.attempts = step.attempts + 1
                                t.record(.workflowStepStarted, node: id, status: "running", detail: "started again after a stop of the portal", attempt: step.attempts + 1)
                                t.effects.append(.execute(organizationID: organizationID, runID: runID, node: id, attempt: step.attempts + 1))
                            } else {
                                needsAttention(&t, "step \(id) had been handed over (\(t.definition.node(id)?.type == .http ? "its request sent" : "to its tool")) when the portal stopped; whether it took effect is unknown")
                            }
                        }
                        advance(&t)
                    }.1
                }
                return effects
            }
            perform(effects)
        }
    }
}
