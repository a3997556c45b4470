import FoundationEssentials
import HTTPTypes
import Hummingbird
import KV
import Portal

/// Conversations with the assistant, and search by meaning. A session is visible only to
/// its owner (others get 404); `sessions:read-all` lets admins read and search the
/// organization's conversations, never change them.
extension PortalRoutes {
    /// A conversation's title: something besides spaces (longer ones are cut at 200 characters).
    static let titleRule: [String: [String: JSONAny]] = ["title": ["pattern": .string("[^ ]")]]
    /// A message: 1 byte to 32 KiB of UTF-8, which 1 to 8,192 characters always are.
    static let messageRule: [String: [String: JSONAny]] = ["text": ["minLength": .number(1), "maxLength": .number(8192)]]

    func addChatRoutes(core: PortalCore) {
        let chat = core.chat

        get("/api/sessions", .permission(.chatUse), .doc("listSessions", "Your conversations, newest first.", returns: APISchema.of(SessionPage.self), query: QueryParameter.paging)) { request, context in
            let limit = try APIConventions.pageSize(request)
            let sessions = try chat.list(for: context.principal!, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: sessions.count == limit ? sessions.last?.id.description : nil)
            return try APIConventions.pageResponse(SessionPage(sessions: sessions.map(SessionBody.init), next: next, limit: limit), next: next)
        }

        struct NewSession: Decodable { let title: String? }
        post("/api/sessions", .permission(.chatUse), RouteDoc("createSession", "Starts a conversation.", body: APISchema.of(NewSession.self, constraining: Self.titleRule), returns: APISchema.of(SessionBody.self), status: 201)) { request, context in
            let body = try await Self.decode(NewSession.self, request, context)
            let session = try await chat.create(title: body.title ?? "New conversation", by: context.principal!)
            var response = try Self.jsonResponse(.created, SessionBody(session))
            response.headers[.location] = "/api/sessions/\(session.id)"
            return response
        }

        get("/api/sessions/{id}", .permission(.chatUse), .doc("getSession", "One of your conversations, with its ETag.", returns: APISchema.of(SessionBody.self), revision: .tagged)) { _, context in
            let session = try chat.session(try Self.pathID(context, "session"), for: context.principal!)
            return try APIConventions.taggedResponse(SessionBody(session))
        }

        struct Rename: Decodable { let title: String }
        on(.patch, "/api/sessions/{id}", .permission(.chatUse), RouteDoc("renameSession", "Renames a conversation.", body: APISchema.of(Rename.self, constraining: Self.titleRule), returns: APISchema.of(SessionBody.self), revision: .conditional)) { request, context in
            let body = try await Self.decode(Rename.self, request, context)
            let renamed = try await chat.rename(try Self.pathID(context, "session"), to: body.title, by: context.principal!,
                                                precondition: try APIConventions.precondition(request, SessionBody.init))
            return try APIConventions.taggedResponse(SessionBody(renamed))
        }

        on(.delete, "/api/sessions/{id}", .permission(.chatUse), .doc("deleteSession", "Deletes a conversation and its turns.", status: 204)) { _, context in
            try await chat.delete(try Self.pathID(context, "session"), by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        get("/api/sessions/{id}/turns", .permission(.chatUse), .doc("listTurns", "A conversation's turns, oldest first.", returns: APISchema.list("turns", of: TurnBody.self))) { _, context in
            let session = try chat.session(try Self.pathID(context, "session"), for: context.principal!)
            return try Self.jsonResponse(.ok, ["turns": try chat.turns(of: session.id).map(TurnBody.init)])
        }

        struct Message: Decodable { let text: String }
        // The answer streams as server-sent events when asked for (`Accept: text/event-stream`):
        // `turn` (each stored turn, the question first), `text` (the model's words as they
        // come), `done` (with the run it paused on, if any). Otherwise one JSON document
        // once the answer is complete. Refusals come before any of it, as problem details.
        post("/api/sessions/{id}/turns", .permission(.chatUse), RouteDoc("sendMessage", "Sends a message; the assistant answers (streamed as server-sent events when asked for with Accept).", body: APISchema.of(Message.self, constraining: Self.messageRule), responses: [ResponseSpec(201, "The new turns.", schema: APISchema.list("turns", of: TurnBody.self)), ResponseSpec(200, "The answer as it is written.", contentType: "text/event-stream")])) { request, context in
            let body = try await Self.decode(Message.self, request, context)
            let sessionID = try Self.pathID(context, "session")
            guard request.headers[.accept]?.contains("text/event-stream") == true else {
                let turns = try await core.assistant.replyAndWait(to: body.text, in: sessionID, by: context.principal!, requestID: context.requestID)
                var response = try Self.jsonResponse(.created, ["turns": turns.map(TurnBody.init)])
                response.headers[.location] = "/api/sessions/\(sessionID)/turns"
                return response
            }
            let (question, events) = try await core.assistant.reply(to: body.text, in: sessionID, by: context.principal!, requestID: context.requestID)
            let stream = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: Self.serverSentEvent("turn", TurnBody(question))))
                for await event in events {
                    switch event {
                    case let .turn(turn): try await writer.write(ByteBuffer(string: Self.serverSentEvent("turn", TurnBody(turn))))
                    case let .text(piece): try await writer.write(ByteBuffer(string: Self.serverSentEvent("text", ["text": piece])))
                    case let .finished(run): try await writer.write(ByteBuffer(string: Self.serverSentEvent("done", ["pausedOnRun": run])))
                    }
                }
                try await writer.finish(nil)
            }
            return Self.eventStreamResponse(stream)
        }

        get("/api/assistant", .permission(.chatUse), .doc("getAssistant", "The assistant's model, when one is configured.", returns: .object(["type": .string("object"), "properties": .object(["model": .object(["type": .array([.string("string"), .string("null")])])])]))) { _, _ in
            try Self.jsonResponse(.ok, ["model": try core.assistant.modelName()])
        }

        get("/api/assistant/settings", .systemAdministrator, .doc("getAssistantSettings", "The language model the assistant uses (never its API key).")) { _, _ in
            let configuration = core.assistant.configuration
            let settings = try configuration.settings() ?? .unconfigured
            return try Self.jsonResponse(.ok, AssistantSettingsBody(settings, hasAPIKey: try configuration.hasAPIKey()))
        }

        on(.put, "/api/assistant/settings", .systemAdministrator, .doc("setAssistantSettings", "Connects the assistant to an OpenAI-compatible model server.", body: AssistantSettingsBody.self, status: 204)) { request, context in
            let body = try await Self.decode(AssistantSettingsBody.self, request, context)
            let defaults = AssistantSettings.unconfigured
            let settings = AssistantSettings(enabled: body.enabled, baseURL: body.baseURL, model: body.model, maxSteps: body.maxSteps ?? defaults.maxSteps,
                                             timeoutSeconds: body.timeoutSeconds ?? defaults.timeoutSeconds, maxTools: body.maxTools ?? defaults.maxTools)
            try await core.assistant.configuration.configure(settings, apiKey: body.apiKey, by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        // Which embeddings provider search uses, and switching to another one (system
        // administrators): the switch runs in the background (202); its progress is here.
        get("/api/search/embeddings", .systemAdministrator, .doc("getEmbeddings", "The embeddings provider search uses, and a switch in progress.")) { _, _ in
            try Self.jsonResponse(.ok, core.embeddings.currentStatus())
        }

        struct Choice: Decodable {
            let provider: String
            let baseURL: String?
            let model: String?
            let dimension: Int?
            let apiKey: String?
        }
        on(.put, "/api/search/embeddings", .systemAdministrator, .doc("switchEmbeddings", "Switches search to another embeddings provider (re-embeds in the background).", body: Choice.self, status: 202)) { request, context in
            let body = try await Self.decode(Choice.self, request, context)
            let model = body.model ?? (body.provider == "builtin" ? "hashing-v1" : "")
            let choice = EmbedderChoice(provider: body.provider, baseURL: body.baseURL ?? "", model: model,
                                        dimension: body.dimension ?? (model == SentenceEmbedder.model ? SentenceEmbedder.identity.dimension : 1536))
            try await core.reindexer.choose(choice, apiKey: body.apiKey, by: context.principal!)
            var response = try Self.jsonResponse(.accepted, core.embeddings.currentStatus())
            response.headers[.location] = "/api/search/embeddings"
            return response
        }

        get("/api/search", .permission(.chatUse), .doc("search", "Search by meaning over your conversations and the tools.", query: [QueryParameter(name: "q", schema: .object(["type": .string("string"), "minLength": .number(1), "maxLength": .number(1000)]), description: "What to look for (1–1000 characters).", required: true), .choice("kind", ["all", "turns", "tools"], "What to search (default all).")])) { request, context in
            let principal = context.principal!
            let query = request.uri.queryParameters
            guard let text = query.get("q"), !text.isEmpty, text.count <= 1000 else {
                throw ProblemDetails(.badRequest, detail: "q is required (1–1000 characters).")
            }
            let kind = query.get("kind") ?? "all"
            guard ["all", "turns", "tools"].contains(kind) else { throw ProblemDetails(.badRequest, detail: "kind must be all, turns or tools.") }
            let organizationID = try Self.requireOrganization(principal)
            var results: [SearchResult] = []
            if kind != "tools" {
                results += try await chat.search(text, for: principal, limit: 10).map { match in
                    SearchResult(kind: "turn", score: match.score, title: match.session.title, snippet: SearchSnippet.make(match.turn.text, query: text),
                                 sessionID: match.session.id.description, turnID: match.turn.id.description, tool: nil)
                }
            }
            if kind != "turns" && principal.has(.toolsRead) {
                results += try await core.toolSearch.suggest(text, in: organizationID, limit: 10).map { suggestion in
                    SearchResult(kind: "tool", score: suggestion.score, title: suggestion.tool.title, snippet: SearchSnippet.make(suggestion.tool.description, query: text),
                                 sessionID: nil, turnID: nil, tool: suggestion.tool.name)
                }
            }
            return try Self.jsonResponse(.ok, ["results": results.sorted { $0.score > $1.score }])
        }
    }
}

struct SessionBody: Codable, SchemaComponent {
    static let componentName = "Conversation"
    let id: String
    let title: String
    let createdAt: Date
    let updatedAt: Date
    let turnCount: Int

    init(_ session: ChatSession) {
        id = session.id.description
        title = session.title
        createdAt = session.createdAt
        updatedAt = session.updatedAt
        turnCount = session.turnCount
    }
}

struct SessionPage: Codable {
    let sessions: [SessionBody]
    let next: String?
    let limit: Int
}

struct TurnBody: Codable, SchemaComponent {
    static let componentName = "Turn"
    let id: String
    let role: String
    let text: String
    let suggestedTools: [String]
    let runID: String?
    let toolCalls: [ChatToolCall]?
    let toolCallID: String?
    let runStatus: String?
    let failed: Bool?
    let createdAt: Date

    init(_ turn: ChatTurn) {
        id = turn.id.description
        role = turn.role.rawValue
        text = turn.text
        suggestedTools = turn.suggestedTools
        runID = turn.runID
        toolCalls = turn.toolCalls
        toolCallID = turn.toolCallID
        runStatus = turn.runStatus
        failed = turn.failed
        createdAt = turn.createdAt
    }
}

/// The assistant's model settings as the API shows them: the API key is write-only
/// (`apiKey`: a new key, `""` to remove it, absent to keep it); `hasAPIKey` says whether one is stored.
struct AssistantSettingsBody: Codable {
    let enabled: Bool
    let baseURL: String
    let model: String
    let maxSteps: Int?
    let timeoutSeconds: Int?
    let maxTools: Int?
    var apiKey: String? = nil
    var hasAPIKey: Bool? = nil

    init(_ settings: AssistantSettings, hasAPIKey: Bool) {
        enabled = settings.enabled
        baseURL = settings.baseURL
        model = settings.model
        maxSteps = settings.maxSteps
        timeoutSeconds = settings.timeoutSeconds
        maxTools = settings.maxTools
        self.hasAPIKey = hasAPIKey
    }
}

struct SearchResult: Codable {
    let kind: String
    let score: Float
    let title: String
    let snippet: String
    let sessionID: String?
    let turnID: String?
    let tool: String?
}
