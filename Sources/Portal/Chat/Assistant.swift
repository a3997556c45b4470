import FoundationEssentials
public import KV
import Synchronization
import Logging

/// What happens while the assistant answers, in order: turns as they are stored, the
/// model's text as it streams, and the end.
public enum AssistantEvent: Sendable, Equatable {
    /// A turn was stored (the assistant's answer, its tool calls, a tool's result).
    case turn(ChatTurn)
    /// More of the model's answer, before the turn holding it is stored.
    case text(String)
    /// The answer is complete, or paused until a run's approval is decided.
    case finished(pausedOnRun: String?)
}

/// Answers chat messages.
///
/// With a language model configured (`AssistantConfiguration`), the model answers and calls
/// the organization's tools itself, each call through the one execution path (entry point
/// `chat`: permission, schema, approval, audit), at most `maxSteps` model calls per message.
/// A call that needs an approval pauses the conversation; it resumes by itself when the run
/// is decided (also after a restart: `resumePaused`). The model server failing, going
/// silent or answering nonsense ends the answer with a failure turn saying why; what was
/// stored stays.
///
/// Without a model (the embedded default) it still helps, and says plainly that no model is
/// configured: it runs `/tool-name {json}` commands and otherwise suggests the tools that
/// match the request by meaning, as ready-to-fill forms.
///
/// Guarantees: one answer at a time per conversation (a second message meanwhile is a
/// conflict); the answer goes on when the person who asked stops listening.
public final class Assistant: Sendable {
    let environment: Environment
    let sessions: ChatSessions
    let toolSearch: ToolSearch
    let runs: ToolRuns
    let workflows: Workflows
    let incidents: Incidents
    let changes: Changes
    let organizations: Organizations
    let accounts: Accounts
    let jobs: Jobs
    let logger = Logger(label: "portal.assistant")
    public let configuration: AssistantConfiguration
    /// Runs awaiting approval that a conversation waits on: run → where to resume.
    let paused: Table<Key<TimeOrderedID>, JSONValue<PausedCall>>
    private let answering = ConversationLocks()

    struct PausedCall: Codable, Sendable {
        var schemaVersion = 1
        let organizationID: UUID
        let sessionID: TimeOrderedID
        let ownerID: UUID
        let toolCallID: String
        let requestID: String
        /// The asker's role then and API key, if any: a resumed conversation never has more
        /// rights than the person had when they asked.
        var role: Role?
        var apiKeyID: UUID?
    }

    init(environment: Environment, sessions: ChatSessions, toolSearch: ToolSearch, runs: ToolRuns, workflows: Workflows, incidents: Incidents, changes: Changes,
         organizations: Organizations, accounts: Accounts, jobs: Jobs, configuration: AssistantConfiguration) throws {
        self.workflows = workflows
        self.incidents = incidents
        self.changes = changes
        self.jobs = jobs
        self.environment = environment
        self.sessions = sessions
        self.toolSearch = toolSearch
        self.runs = runs
        self.organizations = organizations
        self.accounts = accounts
        self.configuration = configuration
        paused = try environment.table("chat_paused_calls", key: Key<TimeOrderedID>.self, value: JSONValue<PausedCall>.self)
        jobs.register(JobKind(Self.resumeJob, concurrency: 4, maxAttempts: 5, backoff: .seconds(2)) { [self] context in
            let payload = try context.payload(as: ResumePayload.self)
            guard let run = try runs.run(payload.runID, in: payload.organizationID), run.status.isFinal else { return }
            try await resume(after: run)
        })
    }

    static let resumeJob = "assistant.resume"

    /// What a resume job carries: the run the conversation waited on.
    struct ResumePayload: Codable {
        let organizationID: UUID
        let runID: TimeOrderedID
    }

    /// The job that goes on with the conversation paused on `run` (one per run).
    static func resumeRequest(_ run: RunEvent, organizationID: UUID) throws -> JobRequest {
        JobRequest(kind: resumeJob, payload: try JSONAny(encoding: ResumePayload(organizationID: organizationID, runID: run.runID)),
                   idempotencyKey: resumeJob + ":" + run.runID.description)
    }

    /// The outbox consumer that turns a decided run a conversation waits on into a resume job,
    /// in the transaction that consumes the event.
    func resumeConsumer(outbox: Outbox) -> EventConsumer {
        EventConsumer("assistant", outbox: outbox, handle: { [self] entries, txn in
            for entry in entries {
                guard case let .runFinished(run) = entry.event, let organizationID = entry.organizationID, try txn.exists(paused, run.runID) else { continue }
                try jobs.enqueue(try Self.resumeRequest(run, organizationID: organizationID), in: txn)
            }
        })
    }

    /// Whether a language model answers (else the no-model assistant does), and which.
    public func modelName() throws -> String? { try configuration.settings().flatMap { $0.enabled ? $0.model : nil } }

    /// Stores the person's message and starts the answer, which goes on in the background.
    /// Throws before storing anything for a malformed `/command`, a session the principal
    /// does not own, or one already being answered (`PortalError.conflict`).
    public func reply(to text: String, in sessionID: TimeOrderedID, by principal: Principal, requestID: String) async throws
        -> (question: ChatTurn, events: AsyncStream<AssistantEvent>) {
        let command = try SlashCommand(text)
        _ = try sessions.session(sessionID, for: principal, reading: false)
        guard answering.tryAcquire(sessionID) else { throw PortalError.conflict("the assistant is still answering in this conversation") }
        let question: ChatTurn
        do {
            question = try await sessions.append(.user, text: text, to: sessionID, by: principal)
        } catch {
            answering.release(sessionID)
            throw error
        }
        let (events, sink) = AsyncStream.makeStream(of: AssistantEvent.self)
        jobs.detach { [self] in
            var pausedOnRun: String?
            do {
                if let command {
                    sink.yield(.turn(try await run(command, in: sessionID, by: principal, requestID: requestID)))
                } else if let model = try configuration.model() {
                    pausedOnRun = try await converse(in: sessionID, by: principal, requestID: requestID, model: model, sink: sink)
                } else {
                    sink.yield(.turn(try await suggest(for: text, in: sessionID, by: principal)))
                }
            } catch {
                if let turn = await recordFailure(error, in: sessionID, by: principal) { sink.yield(.turn(turn)) }
            }
            // Free before the end is told, so the next message is never refused as a conflict.
            answering.release(sessionID)
            sink.yield(.finished(pausedOnRun: pausedOnRun))
            sink.finish()
        }
        return (question, events)
    }

    /// `reply`, waiting for the answer: the question and every turn stored for it.
    public func replyAndWait(to text: String, in sessionID: TimeOrderedID, by principal: Principal, requestID: String) async throws -> [ChatTurn] {
        let (question, events) = try await reply(to: text, in: sessionID, by: principal, requestID: requestID)
        var turns = [question]
        for await event in events { if case let .turn(turn) = event { turns.append(turn) } }
        return turns
    }

    // MARK: With a model

    /// The tool-calling loop. Returns the run it paused on, if any.
    private func converse(in sessionID: TimeOrderedID, by principal: Principal, requestID: String,
                          model: (settings: AssistantSettings, client: OpenAICompatibleChatModel),
                          sink: AsyncStream<AssistantEvent>.Continuation) async throws -> String? {
        let session = try sessions.session(sessionID, for: principal, reading: false)
        let turns = try sessions.turns(of: sessionID)
        let lastQuestion = turns.last { $0.role == .user }?.text ?? session.title
        let tools = try await toolDefinitions(for: principal, about: lastQuestion, limit: model.settings.maxTools)
        let organization = try organizations.organization(session.organizationID)
        for _ in 0..<model.settings.maxSteps {
            let messages = Self.messages(from: try sessions.turns(of: sessionID), organization: organization?.displayName ?? "this", user: principal.user.username)
            let reply: ModelReply
            do {
                reply = try await model.client.complete(messages, tools: tools.definitions) { piece in sink.yield(.text(piece)) }
            } catch {
                let failure = ChatTurn.Draft(role: .assistant, text: "The language model could not answer: \(error.description).", failed: true)
                sink.yield(.turn(try await sessions.append(failure, to: sessionID, by: principal)))
                return nil
            }
            let calls = reply.toolCalls.map { ChatToolCall(id: $0.id, tool: tools.portalName($0.name), arguments: $0.arguments) }
            let answer = try await sessions.append(ChatTurn.Draft(role: .assistant, text: reply.content, toolCalls: calls.isEmpty ? nil : calls),
                                                   to: sessionID, by: principal)
            sink.yield(.turn(answer))
            guard !calls.isEmpty else { return nil }
            var pausedOnRun: String?
            for call in calls {
                let (result, pending) = try await perform(call, in: sessionID, by: principal, requestID: requestID)
                sink.yield(.turn(result))
                if let pending { pausedOnRun = pending.description }
            }
            if let pausedOnRun { return pausedOnRun }
        }
        let stop = ChatTurn.Draft(role: .assistant, text: "I stopped after \(model.settings.maxSteps) steps without reaching an answer. Ask again, more precisely, or run a tool from the catalog.",
                                  failed: true)
        sink.yield(.turn(try await sessions.append(stop, to: sessionID, by: principal)))
        return nil
    }

    /// Runs one call through the one path and stores its result as a tool turn. Returns the
    /// run when it waits for an approval (the conversation then pauses on it).
    private func perform(_ call: ChatToolCall, in sessionID: TimeOrderedID, by principal: Principal, requestID: String) async throws
        -> (ChatTurn, pending: TimeOrderedID?) {
        let input: JSONAny
        if call.arguments.allSatisfy(\.isWhitespace) {
            input = .object([:])
        } else if let parsed = JSONAny(json: Array(call.arguments.utf8)), parsed.object != nil {
            input = parsed
        } else {
            let turn = try await sessions.append(ChatTurn.Draft(role: .tool, text: "error: the arguments are not a JSON object", toolCallID: call.id),
                                                 to: sessionID, by: principal)
            return (turn, nil)
        }
        if call.tool.hasPrefix(Self.itsmPrefix) {
            let text = await callIncidentFunction(String(call.tool.dropFirst(Self.itsmPrefix.count)), input: input, by: principal)
            return (try await sessions.append(ChatTurn.Draft(role: .tool, text: text, toolCallID: call.id), to: sessionID, by: principal), nil)
        }
        if call.tool.hasPrefix(Self.workflowPrefix) {
            let text = await startWorkflow(String(call.tool.dropFirst(Self.workflowPrefix.count)), inputs: input, by: principal)
            return (try await sessions.append(ChatTurn.Draft(role: .tool, text: text, toolCallID: call.id), to: sessionID, by: principal), nil)
        }
        let run: ToolRun
        do {
            run = try await runs.request(.init(principal: principal, tool: call.tool, input: input, entryPoint: .chat, requestID: requestID))
        } catch let error as ToolError {
            let turn = try await sessions.append(ChatTurn.Draft(role: .tool, text: "error: \(error.description)", toolCallID: call.id), to: sessionID, by: principal)
            return (turn, nil)
        }
        guard run.status == .pendingApproval else {
            return (try await sessions.append(Self.result(of: run, call: call), to: sessionID, by: principal), nil)
        }
        let waiting = ChatTurn.Draft(role: .tool, text: "\(run.toolTitle) needs an approval (\(run.risk.rawValue) risk); the conversation goes on once it is decided.",
                                     runID: run.id.description, toolCallID: call.id, runStatus: run.status.rawValue)
        let turn = try await sessions.append(waiting, to: sessionID, by: principal)
        let record = PausedCall(organizationID: run.organizationID, sessionID: sessionID, ownerID: principal.user.id, toolCallID: call.id, requestID: requestID,
                                role: principal.role, apiKeyID: principal.apiKeyID)
        try await environment.write { [paused] txn in try txn.put(paused, run.id, record) }
        // Decided before the pause was stored: the consumer saw nothing to resume.
        if let now = try runs.run(run.id, in: run.organizationID), now.status.isFinal {
            try await jobs.enqueue(try Self.resumeRequest(RunEvent(now), organizationID: run.organizationID))
        }
        return (turn, run.id)
    }

    /// Workflows are functions too: `workflow.<name>` (`workflow_<name>` for the model).
    static let workflowPrefix = "workflow."
    /// How long a workflow call waits for its run to end before answering with where it stands.
    static let workflowWait: Duration = .seconds(20)

    /// Starts a workflow run as the person (trigger `chat`), waits a while for it to end, and
    /// says how it stands, for the model to tell them.
    func startWorkflow(_ name: String, inputs: JSONAny, by principal: Principal) async -> String {
        do {
            let run = try await workflows.start(name, inputs: inputs, by: principal, trigger: .chat)
            let settled = try await workflows.waitUntilSettled(run.id, in: run.organizationID, timeout: Self.workflowWait) ?? run
            let waiting = settled.steps.filter { $0.value.status == .waiting }.keys.sorted()
            return switch settled.status {
            case .succeeded: "Workflow run \(settled.id) of \(name) succeeded. Outputs: " + String(decoding: (settled.outputs ?? .object([:])).canonicalJSON.prefix(8000), as: UTF8.self)
            case .failed, .cancelled, .needsAttention: "Workflow run \(settled.id) of \(name) \(settled.status.rawValue): \(settled.error ?? "")"
            case .queued, .running, .paused:
                "Workflow run \(settled.id) of \(name) is \(settled.status.rawValue)" + (waiting.isEmpty ? "" : ", waiting at \(waiting.joined(separator: ", "))")
                    + ". It goes on without the conversation; follow it on the page #/workflow-runs/\(settled.id)."
            }
        } catch {
            return "error: " + ((error as? PortalError)?.message ?? "\(error)")
        }
    }

    static func result(of run: ToolRun, call: ChatToolCall) -> ChatTurn.Draft {
        let text = switch run.status {
        case .succeeded: run.output?.text ?? ""
        case .failed: "failed: \(run.output?.error ?? "")\n\(run.output?.text ?? "")"
        default: "\(run.status.rawValue)\(run.output.map { ": \($0.error)" } ?? "")"
        }
        return ChatTurn.Draft(role: .tool, text: text.isEmpty ? "(no output)" : text, runID: run.id.description, toolCallID: call.id, runStatus: run.status.rawValue)
    }

    // MARK: Pausing on approvals

    /// Resumes conversations whose awaited run was decided while no consumer saw it (before
    /// an upgrade, or interrupted at the last start). Called once at start; idempotent.
    public func resumePaused() async throws {
        let waiting = try environment.read { txn in
            var entries: [(TimeOrderedID, PausedCall)] = []
            try txn.forEach(paused) { (runID, call) throws(KVError) in
                entries.append((runID, call))
                return true
            }
            return entries
        }
        for (runID, call) in waiting {
            if let run = try runs.run(runID, in: call.organizationID), run.status.isFinal {
                try await jobs.enqueue(try Self.resumeRequest(RunEvent(run), organizationID: call.organizationID))
            }
        }
    }

    /// Stores the decided run's result in its conversation and, when no other call of that
    /// step still waits, lets the model go on, with the rights the person had when they asked
    /// (never more than now). Holding the conversation while it claims the paused call, so
    /// two decisions never both go on; the result is stored before the claim is removed, so a
    /// crash in between repeats the result (the model sees the latest) rather than losing it.
    func resume(after run: ToolRun) async throws {
        guard let waiting = try environment.read({ txn in try txn.get(paused, run.id) }) else { return }
        await answering.acquire(waiting.sessionID)
        defer { answering.release(waiting.sessionID) }
        guard let call = try environment.read({ txn in try txn.get(paused, run.id) }) else { return }  // another resumer was first
        let principal = try principalForResuming(call)
        let toolCall = ChatToolCall(id: call.toolCallID, tool: run.tool, arguments: "")
        if let principal {
            _ = try await sessions.append(Self.result(of: run, call: toolCall), to: call.sessionID, by: principal)
        }
        let stillWaiting = try await environment.write { [paused] txn -> Bool in
            _ = try txn.delete(paused, run.id)
            var found = false
            try txn.forEach(paused) { (_, other) throws(KVError) in
                found = other.sessionID == call.sessionID
                return !found
            }
            return found
        }
        guard let principal, !stillWaiting, let model = try configuration.model() else { return }
        // Nobody listens to a resumed answer: its turns reach people as `chat.turn` events.
        let (_, sink) = AsyncStream.makeStream(of: AssistantEvent.self, bufferingPolicy: .bufferingNewest(0))
        defer { sink.finish() }
        do {
            _ = try await converse(in: call.sessionID, by: principal, requestID: call.requestID, model: model, sink: sink)
        } catch {
            // The conversation's owner waits for this answer: the failure is a turn they see.
            _ = await recordFailure(error, in: call.sessionID, by: principal)
        }
    }

    /// Keeps a failed answer as a turn the asker sees, and logs it; when even that cannot be
    /// stored (storage failing, the session deleted meanwhile), logs both.
    private func recordFailure(_ error: any Error, in sessionID: TimeOrderedID, by principal: Principal) async -> ChatTurn? {
        logger.warning("the assistant could not answer", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        let failure = ChatTurn.Draft(role: .assistant, text: "The assistant could not answer: \(error).", failed: true)
        do {
            return try await sessions.append(failure, to: sessionID, by: principal)
        } catch {
            logger.error("the assistant's failure could not be stored", metadata: ["session": "\(sessionID)", "error": "\(error)"])
            return nil
        }
    }

    /// Who goes on with a paused conversation: its owner, with the lower of the role they
    /// had when they asked and the one they have now, through the same API key; `nil` when
    /// they are no longer a member (system administrators always are).
    private func principalForResuming(_ call: PausedCall) throws -> Principal? {
        guard let owner = try accounts.user(id: call.ownerID) else { return nil }
        let current = try organizations.role(of: owner.id, in: call.organizationID)
        guard current != nil || owner.isAdministrator else { return nil }
        let role = [call.role, current].compactMap { $0 }.min()
        var principal = Principal.member(owner, of: call.organizationID, as: role ?? .viewer)
        principal.apiKeyID = call.apiKeyID
        return principal
    }

    // MARK: What the model sees

    /// The tool definitions for the model, with the names it knows them by (`.` is not
    /// allowed in function names; tool and workflow names never contain `_`, so `_` maps back).
    struct ToolDefinitions {
        var definitions: [ModelToolDefinition]
        func portalName(_ modelName: String) -> String { String(modelName.map { $0 == "_" ? "." : $0 }) }
        static func modelName(_ tool: String) -> String { String(tool.map { $0 == "." ? "_" : $0 }) }
    }

    /// The tools the person may run in the organization (when more than `limit`, those
    /// closest in meaning to `question`), the organization's workflows when they may run
    /// tools, and the incident functions when they may report incidents.
    private func toolDefinitions(for principal: Principal, about question: String, limit: Int) async throws -> ToolDefinitions {
        guard let organizationID = principal.organizationID else { return ToolDefinitions(definitions: []) }
        var tools = try runs.catalog.tools(in: organizationID).filter { principal.has($0.requiredPermission) }
        if tools.count > limit {
            // Ranked by meaning; when that fails (an embeddings provider down), in catalog order.
            let ranked = (try? await toolSearch.suggest(question, in: organizationID, limit: tools.count, minimumScore: -1).map(\.tool.name)) ?? tools.map(\.name)
            let allowed = Set(tools.map(\.name))
            let chosen = Set(ranked.filter(allowed.contains).prefix(limit))
            tools = tools.filter { chosen.contains($0.name) }
        }
        var definitions = tools.map { tool in
            ModelToolDefinition(name: ToolDefinitions.modelName(tool.name),
                                description: "\(tool.title). \(tool.description) (risk: \(tool.risk.rawValue)\(tool.risk > .low ? "; needs a human approval" : ""))",
                                parameters: tool.inputSchema)
        }
        if principal.has(.toolsRun) {
            // The organization's workflows, the most recently changed first, as many as tools.
            let recent = try workflows.list(in: organizationID).sorted { $0.updatedAt > $1.updatedAt }.prefix(limit)
            for summary in recent {
                guard let latest = try workflows.version(summary.name, in: organizationID) else { continue }
                let about = latest.definition.description.isEmpty ? "" : " \(latest.definition.description)"
                definitions.append(ModelToolDefinition(name: ToolDefinitions.modelName(Self.workflowPrefix + summary.name),
                                                       description: "Workflow: \(latest.definition.title).\(about) Starts a run; its steps run under your role, with approvals.",
                                                       parameters: latest.definition.inputs))
            }
        }
        definitions += Self.itsmDefinitions(for: principal)
        return ToolDefinitions(definitions: definitions)
    }

    /// The conversation as chat-completions messages: a system prompt, then the last turns;
    /// each tool call is followed by its latest result (or a note that it is still waiting).
    static func messages(from turns: [ChatTurn], organization: String, user: String, keep: Int = 40) -> [ModelMessage] {
        // A result answers the latest earlier assistant turn that made a call with its id
        // (servers may reuse ids from one reply to the next).
        var caller: [String: TimeOrderedID] = [:]
        var latestResult: [String: ChatTurn] = [:]  // "assistant turn/call id" → result
        for turn in turns {
            if turn.role == .assistant { for call in turn.toolCalls ?? [] { caller[call.id] = turn.id } }
            if turn.role == .tool, let id = turn.toolCallID, let assistant = caller[id] { latestResult["\(assistant)/\(id)"] = turn }
        }
        var messages = [ModelMessage(role: .system, content: """
            You are the operations assistant of the \(organization) organization, talking with \(user). \
            Use the tools when they help; every call runs for real, with \(user)'s permissions, and is audited. \
            Tools marked as needing a human approval wait for it; you get their result once decided. \
            Never invent a tool's result. Answer briefly.
            """)]
        for turn in turns.suffix(keep) {
            switch turn.role {
            case .user:
                messages.append(ModelMessage(role: .user, content: turn.text))
            case .assistant where turn.failed != true:
                let calls = turn.toolCalls ?? []
                messages.append(ModelMessage(role: .assistant, content: turn.text.isEmpty ? nil : turn.text,
                                             toolCalls: calls.map { ModelToolCall(id: $0.id, name: ToolDefinitions.modelName($0.tool), arguments: $0.arguments) }))
                for call in calls {
                    let result = latestResult["\(turn.id)/\(call.id)"]
                    messages.append(ModelMessage(role: .tool, content: String((result?.text ?? "the call did not complete").prefix(8000)), toolCallID: call.id))
                }
            case .assistant, .tool:
                continue
            }
        }
        return messages
    }

    // MARK: Without a model

    /// `/tool-name` or `/tool-name {json}`.
    struct SlashCommand {
        let tool: String
        let input: JSONAny

        init?(_ text: String) throws {
            guard text.hasPrefix("/") else { return nil }
            let body = text.dropFirst()
            let name = String(body.prefix { !$0.isWhitespace })
            let rest = body.dropFirst(name.count).drop { $0.isWhitespace }
            guard !name.isEmpty else { return nil }
            tool = name
            if rest.isEmpty {
                input = .object([:])
            } else {
                guard let parsed = JSONAny(json: Array(rest.utf8)), parsed.object != nil else {
                    throw ToolError.invalidInput(InputError(problems: [InputProblem(field: "(input)", message: "must be a JSON object after the tool name, as in /\(name) {\"key\": \"value\"}")]))
                }
                input = parsed
            }
        }
    }

    private func run(_ command: SlashCommand, in sessionID: TimeOrderedID, by principal: Principal, requestID: String) async throws -> ChatTurn {
        let text: String
        var runID: String?
        do {
            let run = try await runs.request(.init(principal: principal, tool: command.tool, input: command.input, entryPoint: .chat, requestID: requestID))
            runID = run.id.description
            switch run.status {
            case .pendingApproval:
                text = "\(run.toolTitle) needs an approval (\(run.risk.rawValue) risk). It runs as soon as an approver says yes; follow it on the run's page."
            case .succeeded:
                text = "\(run.toolTitle) succeeded.\n\n" + String((run.output?.text ?? "").prefix(4000))
            default:
                text = "\(run.toolTitle) \(run.status.rawValue): \(run.output?.error ?? "")"
            }
        } catch let error as ToolError {
            text = "I could not run /\(command.tool): \(error.description)."
        }
        return try await sessions.append(.assistant, text: text, to: sessionID, by: principal, runID: runID)
    }

    private func suggest(for text: String, in sessionID: TimeOrderedID, by principal: Principal) async throws -> ChatTurn {
        guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
        let suggestions = try await toolSearch.suggest(text, in: organizationID, limit: 3)
        let answer: String
        if suggestions.isEmpty {
            answer = "No language model is configured, so I can only find tools and run them, and no tool of this organization matches that. "
                + "Try other words, browse the catalog, or run a tool with /tool-name {json}."
        } else {
            let lines = suggestions.map { "• \($0.tool.title) (/\($0.tool.name)): \($0.tool.description)" }
            answer = "No language model is configured, so I can't answer in my own words, but these tools match what you asked:\n"
                + lines.joined(separator: "\n") + "\nFill one in below, or type /tool-name {json}."
        }
        return try await sessions.append(.assistant, text: answer, to: sessionID, by: principal, suggestedTools: suggestions.map(\.tool.name))
    }
}

/// One holder per conversation. `tryAcquire` refuses at once when held; `acquire` waits its
/// turn (first come, first served); `release` hands the conversation to the next waiter.
final class ConversationLocks: Sendable {
    private struct State {
        var held: Set<TimeOrderedID> = []
        var waiters: [TimeOrderedID: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = Mutex(State())

    func tryAcquire(_ id: TimeOrderedID) -> Bool {
        state.withLock { $0.held.insert(id).inserted }
    }

    func acquire(_ id: TimeOrderedID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.held.insert(id).inserted { return true }
                state.waiters[id, default: []].append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func release(_ id: TimeOrderedID) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if var waiting = state.waiters[id], !waiting.isEmpty {
                let next = waiting.removeFirst()
                state.waiters[id] = waiting.isEmpty ? nil : waiting
                return next  // the conversation stays held, by the next waiter
            }
            state.held.remove(id)
            return nil
        }
        next?.resume()
    }
}
