public import FoundationEssentials
public import KV
import Vector

/// Answers a chat message. Without a language model configured (the embedded default) it
/// still helps, and says plainly that no model is configured: it runs `/tool-name {json}`
/// commands through the one execution path (entry point `chat`), and otherwise suggests the
/// organization's tools that match the request by meaning, as ready-to-fill forms.
public final class Assistant: Sendable {
    let sessions: ChatSessions
    let toolSearch: ToolSearch
    let runs: ToolRuns

    init(sessions: ChatSessions, toolSearch: ToolSearch, runs: ToolRuns) {
        self.sessions = sessions
        self.toolSearch = toolSearch
        self.runs = runs
    }

    /// Records the person's message and the assistant's answer; returns both turns.
    public func reply(to text: String, in sessionID: TimeOrderedID, by principal: Principal, requestID: String) async throws -> [ChatTurn] {
        // A malformed command is refused before anything is stored.
        let command = try SlashCommand(text)
        let question = try await sessions.append(.user, text: text, to: sessionID, by: principal)
        let answer: ChatTurn
        if let command {
            answer = try await run(command, in: sessionID, by: principal, requestID: requestID)
        } else {
            answer = try await suggest(for: text, in: sessionID, by: principal)
        }
        return [question, answer]
    }

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
        guard let organizationID = principal.organizationID else { throw AccessError.invalid("choose an organization first") }
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
