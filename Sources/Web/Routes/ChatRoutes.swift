import FoundationEssentials
import HTTPTypes
import Hummingbird
import KV
import Portal

/// Conversations with the assistant, and search by meaning. A session is visible only to
/// its owner (others get 404); `sessions:read-all` lets admins read and search the
/// organization's conversations, never change them.
extension PortalRoutes {
    func addChatRoutes(core: PortalCore) {
        let chat = core.chat

        get("/api/sessions", .permission(.chatUse)) { request, context in
            let query = request.uri.queryParameters
            let limit = try Self.limit(query.get("limit"))
            let sessions = try chat.list(for: context.principal!, limit: limit, before: try Self.pageCursor(query.get("before")))
            return try Self.jsonResponse(.ok, SessionPage(sessions: sessions.map(SessionBody.init), next: sessions.count == limit ? sessions.last?.id.description : nil))
        }

        struct NewSession: Decodable { let title: String? }
        post("/api/sessions", .permission(.chatUse)) { request, context in
            let body = try await Self.decode(NewSession.self, request, context)
            let session = try await chat.create(title: body.title ?? "New conversation", by: context.principal!)
            var response = try Self.jsonResponse(.created, SessionBody(session))
            response.headers[.location] = "/api/sessions/\(session.id)"
            return response
        }

        get("/api/sessions/{id}", .permission(.chatUse)) { _, context in
            let session = try chat.session(try Self.pathID(context, "session"), for: context.principal!)
            return try Self.jsonResponse(.ok, SessionBody(session))
        }

        struct Rename: Decodable { let title: String }
        on(.patch, "/api/sessions/{id}", .permission(.chatUse)) { request, context in
            let body = try await Self.decode(Rename.self, request, context)
            return try Self.jsonResponse(.ok, SessionBody(try await chat.rename(try Self.pathID(context, "session"), to: body.title, by: context.principal!)))
        }

        on(.delete, "/api/sessions/{id}", .permission(.chatUse)) { _, context in
            try await chat.delete(try Self.pathID(context, "session"), by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        get("/api/sessions/{id}/turns", .permission(.chatUse)) { _, context in
            let session = try chat.session(try Self.pathID(context, "session"), for: context.principal!)
            return try Self.jsonResponse(.ok, ["turns": try chat.turns(of: session.id).map(TurnBody.init)])
        }

        struct Message: Decodable { let text: String }
        post("/api/sessions/{id}/turns", .permission(.chatUse)) { request, context in
            let body = try await Self.decode(Message.self, request, context)
            let turns = try await core.assistant.reply(to: body.text, in: try Self.pathID(context, "session"), by: context.principal!, requestID: context.requestID)
            return try Self.jsonResponse(.created, ["turns": turns.map(TurnBody.init)])
        }

        get("/api/search", .permission(.chatUse)) { request, context in
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

struct SessionBody: Encodable {
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

struct SessionPage: Encodable {
    let sessions: [SessionBody]
    let next: String?
}

struct TurnBody: Encodable {
    let id: String
    let role: String
    let text: String
    let suggestedTools: [String]
    let runID: String?
    let createdAt: Date

    init(_ turn: ChatTurn) {
        id = turn.id.description
        role = turn.role.rawValue
        text = turn.text
        suggestedTools = turn.suggestedTools
        runID = turn.runID
        createdAt = turn.createdAt
    }
}

struct SearchResult: Encodable {
    let kind: String
    let score: Float
    let title: String
    let snippet: String
    let sessionID: String?
    let turnID: String?
    let tool: String?
}
