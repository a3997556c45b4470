import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Synchronization
import Testing
import TestSupport
@testable import Web

/// The assistant with a language model: a chat-completions server this test runs on
/// 127.0.0.1, scripted to call tools, stream, stall and misbehave.
@Suite struct AssistantModelTests {
    /// What the fake model server answers, request after request.
    enum Answer: Sendable {
        /// Server-sent events, each written separately.
        case stream([String])
        /// One JSON document (a server that does not stream).
        case json(String)
        case status(Int, String)
        /// Writes `first`, then stays silent until `release` yields.
        case stall(first: [String], release: AsyncStream<Void>)
    }

    final class ModelScript: Sendable {
        let answers: Mutex<[Answer]>
        let requests = Mutex<[(authorization: String?, body: JSONAny)]>([])
        init(_ answers: [Answer]) { self.answers = Mutex(answers) }
        func add(_ more: [Answer]) { answers.withLock { $0 += more } }
        var bodies: [JSONAny] { requests.withLock { $0.map(\.body) } }
    }

    static func modelServer(_ script: ModelScript) -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.post("/v1/chat/completions") { request, context -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let body = try #require(JSONAny(json: Array(buffer: bytes)))
            script.requests.withLock { $0.append((request.headers[.authorization], body)) }
            let answer = script.answers.withLock { $0.isEmpty ? Answer.status(500, #"{"error":{"message":"the script has no more answers"}}"#) : $0.removeFirst() }
            switch answer {
            case let .status(code, text):
                return Response(status: .init(code: code), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            case let .json(text):
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            case let .stream(events):
                return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                    for event in events { try await writer.write(ByteBuffer(string: event)) }
                    try await writer.finish(nil)
                })
            case let .stall(first, release):
                return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                    for event in first { try await writer.write(ByteBuffer(string: event)) }
                    for await _ in release { break }
                    try await writer.finish(nil)
                })
            }
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    // Stream events as OpenAI-compatible servers send them.
    static func text(_ pieces: String...) -> [String] {
        pieces.map { #"data: {"choices":[{"index":0,"delta":{"content":\#(JSONAny.string($0).json)}}]}"# + "\n\n" }
            + [#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"# + "\n\n", "data: [DONE]\n\n"]
    }

    /// A tool call whose arguments arrive in pieces, as real servers stream them.
    static func toolCall(id: String, name: String, arguments: [String]) -> [String] {
        [#"data: {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"\#(id)","type":"function","function":{"name":"\#(name)","arguments":""}}]}}]}"# + "\n\n"]
            + arguments.map { #"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":\#(JSONAny.string($0).json)}}]}}]}"# + "\n\n" }
            + [#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"# + "\n\n", "data: [DONE]\n\n"]
    }

    static func configure(_ client: some TestClientProtocol, port: Int, maxSteps: Int = 6, timeoutSeconds: Int = 20, baseURL: String? = nil) async throws {
        let root = try await ToolRoutesTests.signIn(client, "root")
        let settings = #"{"enabled":true,"baseURL":"\#(baseURL ?? "http://127.0.0.1:\(port)/v1")","model":"ops-model","apiKey":"sk-model-key-123","maxSteps":\#(maxSteps),"timeoutSeconds":\#(timeoutSeconds)}"#
        try await client.execute(uri: "/api/assistant/settings", method: .put, headers: root.headers, body: ByteBuffer(string: settings)) {
            #expect($0.status == .noContent)
        }
    }

    static func newSession(_ client: some TestClientProtocol, _ who: ToolRoutesTests.Session) async throws -> String {
        try await client.execute(uri: "/api/sessions", method: .post, headers: who.headers, body: ByteBuffer(string: #"{"title":"Ops"}"#)) { response throws in
            try #require(try ToolRoutesTests.json(response)["id"]?.string)
        }
    }

    /// The events of a streamed reply: (event name, data).
    static func events(_ response: TestResponse) throws -> [(String, JSONAny)] {
        try String(buffer: response.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            let lines = block.split(separator: "\n")
            let name = try #require(lines.first { $0.hasPrefix("event: ") }).dropFirst(7)
            let data = try #require(lines.first { $0.hasPrefix("data: ") }).dropFirst(6)
            return (String(name), try #require(JSONAny(json: Array(data.utf8))))
        }
    }

    /// Olga asks `text` in a new conversation with `script` as the model: the answer's events.
    static func olgaAsks(_ text: String, _ harness: WebTestHarness, _ script: ModelScript) async throws -> [(String, JSONAny)] {
        try await modelServer(script).test(.live) { model in
            try await harness.test { client in
                try await configure(client, port: try #require(model.port))
                let olga = try await ToolRoutesTests.signIn(client, "olga")
                let id = try await newSession(client, olga)
                let body = try JSONEncoder().encode(["text": text])
                return try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: streamingHeaders(olga), body: ByteBuffer(bytes: body)) { response throws in
                    try events(response)
                }
            }
        }
    }

    static func streamingHeaders(_ session: ToolRoutesTests.Session) -> HTTPFields {
        var headers = session.headers
        headers[.accept] = "text/event-stream"
        return headers
    }

    @Test func callsAToolThroughTheOnePathAndStreamsTheAnswer() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_k1", name: "host_kernel", arguments: ["{", "}"])),
            .stream(Self.text("This host runs ", "the Linux ", "kernel.")),
        ])
        try await Self.modelServer(script).test(.live) { model in
            try await harness.test { client in
                try await Self.configure(client, port: try #require(model.port))
                let olga = try await ToolRoutesTests.signIn(client, "olga")
                let id = try await Self.newSession(client, olga)
                let runID = try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: Self.streamingHeaders(olga),
                                                     body: ByteBuffer(string: #"{"text":"which kernel runs on this box?"}"#)) { response throws -> String in
                    #expect(response.status == .ok && response.headers[.contentType] == "text/event-stream")
                    let events = try Self.events(response)
                    #expect(events.map(\.0) == ["turn", "turn", "turn", "text", "text", "text", "turn", "done"])
                    #expect(events[0].1["role"] == .string("user"))
                    #expect(events[1].1["toolCalls"]?.array?.first?["tool"] == .string("host.kernel"), "the model's name maps back to the portal's")
                    #expect(events[2].1["role"] == .string("tool") && events[2].1["runStatus"] == .string("succeeded"))
                    #expect(events[3...5].compactMap { $0.1["text"]?.string }.joined() == "This host runs the Linux kernel.")
                    #expect(events[6].1["text"] == .string("This host runs the Linux kernel."))
                    #expect(events[7].1["pausedOnRun"] == .null)
                    return try #require(events[2].1["runID"]?.string)
                }
                // The run went through the one path, from the chat entry point, in olga's name.
                try await client.execute(uri: "/api/runs/\(runID)", method: .get, headers: olga.headers) { response throws in
                    let run = try ToolRoutesTests.json(response)
                    #expect(run["entryPoint"] == .string("chat") && run["requester"] == .string("olga") && run["status"] == .string("succeeded"))
                }
                // Kept: the conversation reads back the same after the stream.
                try await client.execute(uri: "/api/sessions/\(id)/turns", method: .get, headers: olga.headers) { response throws in
                    #expect(try ToolRoutesTests.json(response)["turns"]?.array?.map { $0["role"]?.string ?? "" } == ["user", "assistant", "tool", "assistant"])
                }
            }
        }
        let requests = script.requests.withLock { $0 }
        #expect(requests.count == 2 && requests.allSatisfy { $0.authorization == "Bearer sk-model-key-123" })
        let first = requests[0].body
        #expect(first["model"] == .string("ops-model") && first["stream"] == .bool(true))
        let tools = try #require(first["tools"]?.array)
        #expect(tools.contains { $0["function"]?["name"] == .string("host_kernel") && $0["function"]?["parameters"]?["type"] == .string("object") })
        #expect(!tools.contains { $0["function"]?["name"]?.string?.contains(".") == true })
        #expect(first["messages"]?.array?.first?["role"] == .string("system"))
        #expect(first["messages"]?.array?.last?["content"] == .string("which kernel runs on this box?"))
        // The second call carries the call and its result, paired by id.
        let messages = try #require(requests[1].body["messages"]?.array)
        let call = messages[messages.count - 2], result = messages[messages.count - 1]
        #expect(call["tool_calls"]?.array?.first?["function"]?["name"] == .string("host_kernel"))
        #expect(call["tool_calls"]?.array?.first?["function"]?["arguments"] == .string("{}"))
        #expect(result["role"] == .string("tool") && result["tool_call_id"] == .string("call_k1"))
        #expect(result["content"]?.string?.contains(#""system""#) == true, "the tool's real output: \(result)")
    }

    /// "Run the greeting workflow for db-7": the organization's workflows are functions too;
    /// the call starts a run as the person asking (trigger chat) and its outputs go back.
    @Test(.timeLimit(.minutes(1))) func startsAWorkflowAndTellsItsOutputs() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let ada = try #require(try harness.core.accounts.user(named: "ada"))
        let definition = try JSONDecoder().decode(WorkflowDefinition.self, from: Data("""
        {"name": "greet", "title": "Greet a host", "description": "Says hello to a host.",
         "inputs": {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"], "additionalProperties": false},
         "outputs": {"greeting": "{{ vars.greeting }}"},
         "nodes": [{"id": "hello", "type": "set", "config": {"variables": {"greeting": "hello {{ inputs.host }}"}}}], "edges": []}
        """.utf8))
        _ = try await harness.core.workflows.save(definition, by: Principal(user: ada, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil))
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_w1", name: "workflow_greet", arguments: [#"{"host":"#, #""db-7"}"#])),
            .stream(Self.text("Done: hello db-7.")),
        ])
        let turns = try await Self.olgaAsks("run the greeting workflow for db-7", harness, script).filter { $0.0 == "turn" }.map(\.1)
        #expect(turns.map { $0["role"]?.string ?? "" } == ["user", "assistant", "tool", "assistant"])
        #expect(turns[1]["toolCalls"]?.array?.first?["tool"] == .string("workflow.greet"))
        let result = try #require(turns[2]["text"]?.string)
        #expect(result.contains("succeeded") && result.contains(#""greeting":"hello db-7""#), "\(result)")
        let runs = try harness.core.workflows.runs(in: organization.id, filter: .init(workflow: "greet"), limit: 10, before: nil)
        #expect(runs.count == 1 && runs[0].trigger == .chat && runs[0].starterName == "olga" && runs[0].inputs == .object(["host": .string("db-7")]))
        // The model saw the workflow with its inputs schema as the parameters.
        let tools = try #require(script.bodies.first?["tools"]?.array)
        let greet = try #require(tools.first { $0["function"]?["name"] == .string("workflow_greet") })
        #expect(greet["function"]?["parameters"]?["required"] == .array([.string("host")]))
        #expect(greet["function"]?["description"]?.string?.contains("Greet a host") == true)
    }

    @Test(.timeLimit(.minutes(1))) func opensAnIncidentAndFindsItAsThePersonAsking() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_i1", name: "itsm_open-incident",
                                  arguments: [#"{"title":"db-7 refuses connections","impact":"high","#, #""urgency":"high","service":"billing-db"}"#])),
            .stream(Self.toolCall(id: "call_i2", name: "itsm_find-incidents", arguments: [#"{"words":"refuses","state":"new"}"#])),
            .stream(Self.text("I opened INC-1 at priority 1.")),
        ])
        let turns = try await Self.olgaAsks("db-7 is down, open a P1", harness, script).filter { $0.0 == "turn" }.map(\.1)
        #expect(turns.map { $0["role"]?.string ?? "" } == ["user", "assistant", "tool", "assistant", "tool", "assistant"])
        let opened = try #require(turns[2]["text"]?.string)
        #expect(opened.hasPrefix("Opened INC-1 (priority P1): db-7 refuses connections."), "\(opened)")
        let found = try #require(turns[4]["text"]?.string)
        #expect(found.hasPrefix("INC-1 P1 new: db-7 refuses connections (service billing-db)"), "\(found)")
        let incidents = try harness.core.incidents.list(in: organization.id)
        #expect(incidents.count == 1 && incidents[0].reporterName == "olga" && incidents[0].priority == 1 && incidents[0].service == "billing-db")
        let tools = try #require(script.bodies.first?["tools"]?.array)
        #expect(tools.contains { $0["function"]?["name"] == .string("itsm_open-incident") } && tools.contains { $0["function"]?["name"] == .string("itsm_find-incidents") })
    }

    @Test(.timeLimit(.minutes(1))) func worksAnIncidentAndProposesAChangeAsThePersonAsking() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let root = try #require(try harness.core.accounts.user(named: "root"))
        let rootPrincipal = Principal(user: root, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil)
        let vic = try await harness.core.organizations.createMember(username: "vic", displayName: "Vic", password: "vic-password-1", role: .viewer, in: organization.id, by: rootPrincipal)
        let viewer = Principal(user: vic, organizationID: organization.id, role: .viewer, sessionKey: nil, csrfToken: nil)
        #expect(Assistant.itsmDefinitions(for: viewer).map(\.name) == ["itsm_open-incident", "itsm_find-incidents"], "a viewer reports and finds, no more")
        let opened = try await harness.core.incidents.open(IncidentDraft(title: "db-7 slow", impact: .medium, urgency: .medium, service: "billing-db"), by: viewer)
        let script = ModelScript([
            // Pending without a reason: the fields and the comment are done, the move is refused, and the model hears both.
            .stream(Self.toolCall(id: "call_u1", name: "itsm_update-incident",
                                  arguments: [#"{"incident":"INC-1","urgency":"high","assignee":"olga","comment":"replica lag 40 s","#, #""internal":true,"state":"pending"}"#])),
            .stream(Self.toolCall(id: "call_u2", name: "itsm_update-incident", arguments: [#"{"incident":"inc-1","state":"in-progress"}"#])),
            .stream(Self.toolCall(id: "call_u3", name: "itsm_update-incident", arguments: [#"{"incident":"INC-9","state":"in-progress"}"#])),
            .stream(Self.toolCall(id: "call_c1", name: "itsm_propose-change",
                                  arguments: [#"{"title":"Add a replica to db-7","risk":"medium","windowStart":"2026-12-05T22:00:00+01:00","#,
                                              #""windowEnd":"2026-12-05T23:30:00+01:00","backoutPlan":"Remove the replica."}"#])),
            .stream(Self.toolCall(id: "call_c2", name: "itsm_propose-change", arguments: [#"{"title":"Bad window","windowStart":"next friday"}"#])),
            .stream(Self.text("INC-1 is in progress and assigned to you; CHG-1 waits for your review.")),
        ])
        let said = try await Self.olgaAsks("INC-1 is replica lag: take it, note it, and propose adding a replica", harness, script)
            .filter { $0.0 == "turn" && $0.1["role"] == .string("tool") }.map { $0.1["text"]?.string ?? "" }
        #expect(said.count == 5)
        #expect(said[0] == "error: updated, internal comment added, then: reason: a pending incident says what it waits for (1 to 500 characters)", "\(said[0])")
        #expect(said[1].hasPrefix("INC-1 moved to in-progress: now P2, in-progress, assigned to olga."), "\(said[1])")
        #expect(said[2] == "error: no incident INC-9")
        #expect(said[3].hasPrefix("Proposed CHG-1 (normal, new): Add a replica to db-7. Its page: #/changes/"), "\(said[3])")
        #expect(said[4] == "error: windowStart: 'next friday' is not an RFC 3339 time")
        let incident = try #require(try harness.core.incidents.incident(opened.id, in: organization.id))
        #expect(incident.urgency == .high && incident.priority == 2 && incident.assigneeName == "olga" && incident.state == .inProgress)
        let timeline = try harness.core.incidents.timeline(of: incident.id, for: viewer)
        #expect(!timeline.contains { $0.kind == .comment }, "the internal comment stays with the team")
        #expect(timeline.filter { $0.kind == .changed }.allSatisfy { $0.actorName == "olga" })
        let changes = try harness.core.changes.list(in: organization.id)
        #expect(changes.count == 1 && changes[0].requesterName == "olga" && changes[0].state == .new && changes[0].risk == .medium)
        #expect(changes[0].windowStart == RFC3339.date("2026-12-05T21:00:00Z") && changes[0].backoutPlan == "Remove the replica.")
    }

    @Test(.timeLimit(.minutes(1))) func pausesOnAnApprovalAndGoesOnAfterTheDecision() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_s1", name: "host_signal-process", arguments: [#"{"pid": 999999}"#])),
            .stream(Self.text("No process 999999 exists, so nothing was signalled.")),
        ])
        try await Self.modelServer(script).test(.live) { model in
            try await harness.test { client in
                try await Self.configure(client, port: try #require(model.port))
                let olga = try await ToolRoutesTests.signIn(client, "olga"), ada = try await ToolRoutesTests.signIn(client, "ada")
                let id = try await Self.newSession(client, olga)
                let runID = try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: Self.streamingHeaders(olga),
                                                     body: ByteBuffer(string: #"{"text":"stop process 999999"}"#)) { response throws -> String in
                    let events = try Self.events(response)
                    #expect(events.map(\.0) == ["turn", "turn", "turn", "done"])
                    #expect(events[2].1["runStatus"] == .string("pending-approval"))
                    let runID = try #require(events[2].1["runID"]?.string)
                    #expect(events[3].1["pausedOnRun"] == .string(runID))
                    return runID
                }
                #expect(script.requests.withLock { $0.count } == 1, "paused: the model is not called again before the decision")
                let notifications = harness.core.runs.notifications.subscribe()
                try await client.execute(uri: "/api/approvals/\(runID)/decision", method: .post, headers: ada.headers, body: ByteBuffer(string: #"{"approve":true}"#)) {
                    #expect($0.status == .ok)
                }
                for await notification in notifications where notification.kind == .chatTurn && notification.sessionID == id {
                    let turns = try harness.core.chat.turns(of: try #require(TimeOrderedID(id)))
                    if turns.last?.role == .assistant { break }
                }
                try await client.execute(uri: "/api/sessions/\(id)/turns", method: .get, headers: olga.headers) { response throws in
                    let turns = try #require(try ToolRoutesTests.json(response)["turns"]?.array)
                    #expect(turns.map { $0["role"]?.string ?? "" } == ["user", "assistant", "tool", "tool", "assistant"])
                    #expect(turns[3]["runStatus"] == .string("failed") && turns[3]["toolCallID"] == .string("call_s1"))
                    #expect(turns[4]["text"] == .string("No process 999999 exists, so nothing was signalled."))
                }
            }
        }
        let resumed = try #require(script.bodies.last?["messages"]?.array?.last)
        #expect(resumed["role"] == .string("tool") && resumed["tool_call_id"] == .string("call_s1"))
        #expect(resumed["content"]?.string?.contains("999999") == true, "the decided run's result, not the waiting note")
        let left = try harness.environment.read { txn in try txn.count(harness.core.assistant.paused) }
        #expect(left == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aConversationPausedBeforeARestartGoesOnAfterTheDecision() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_r1", name: "host_signal-process", arguments: [#"{"pid": 999999}"#])),
            .stream(Self.text("Resumed after the restart.")),
        ])
        try await Self.modelServer(script).test(.live) { model in
            let (sessionID, runID) = try await harness.test { client in
                try await Self.configure(client, port: try #require(model.port))
                let olga = try await ToolRoutesTests.signIn(client, "olga")
                let id = try await Self.newSession(client, olga)
                let runID = try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers,
                                                     body: ByteBuffer(string: #"{"text":"stop process 999999"}"#)) { response throws -> String in
                    try #require(try ToolRoutesTests.json(response)["turns"]?.array?.last?["runID"]?.string)
                }
                return (try #require(TimeOrderedID(id)), try #require(TimeOrderedID(runID)))
            }
            // The portal restarts (its services stop; a second core on the same data starts
            // them again); the decision is taken there.
            try await harness.services.stop()
            let restarted = try await PortalCore(environment: harness.environment, passwordHasher: PasswordHasher(iterations: 1_000))
            try await restarted.resumeAfterStart(defaultEmbedder: .hashing)
            let services = restarted.startServices()
            let notifications = restarted.runs.notifications.subscribe()
            let ada = try #require(try restarted.accounts.user(named: "ada"))
            _ = try await restarted.runs.decide(runID: runID, approve: true, comment: "", by: .member(ada, of: organization.id, as: .admin), requestID: "r-restart")
            for await notification in notifications where notification.kind == .chatTurn && notification.sessionID == sessionID.description {
                if try restarted.chat.turns(of: sessionID).last?.role == .assistant { break }
            }
            let turns = try restarted.chat.turns(of: sessionID)
            try #require(turns.map(\.role) == [.user, .assistant, .tool, .tool, .assistant])
            try await services.stop()
            #expect(turns[3].runStatus == "failed" && turns.last?.text == "Resumed after the restart.")
        }
    }

    @Test(.timeLimit(.minutes(1))) func aRejectionGoesBackToTheModelToo() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let script = ModelScript([
            .stream(Self.toolCall(id: "call_x1", name: "host_signal-process", arguments: [#"{"pid": 999999}"#])),
            .stream(Self.text("The approver said no, so nothing was signalled.")),
        ])
        try await Self.modelServer(script).test(.live) { model in
            try await harness.test { client in try await Self.configure(client, port: try #require(model.port)) }
            let olga = try #require(try harness.core.accounts.user(named: "olga")), ada = try #require(try harness.core.accounts.user(named: "ada"))
            let session = try await harness.core.chat.create(title: "Risky", by: .member(olga, of: organization.id, as: .operator))
            let turns = try await harness.core.assistant.replyAndWait(to: "stop process 999999", in: session.id, by: .member(olga, of: organization.id, as: .operator), requestID: "r1")
            let runID = try #require(turns.last?.runID.flatMap(TimeOrderedID.init))
            let notifications = harness.core.runs.notifications.subscribe()
            _ = try await harness.core.runs.decide(runID: runID, approve: false, comment: "not today", by: .member(ada, of: organization.id, as: .admin), requestID: "r2")
            for await notification in notifications where notification.kind == .chatTurn && notification.sessionID == session.id.description {
                if try harness.core.chat.turns(of: session.id).last?.role == .assistant { break }
            }
            let after = try harness.core.chat.turns(of: session.id)
            try #require(after.map(\.role) == [.user, .assistant, .tool, .tool, .assistant])
            #expect(after[3].runStatus == "rejected" && after.last?.text == "The approver said no, so nothing was signalled.")
            #expect(script.bodies.last?["messages"]?.array?.last?["content"]?.string?.hasPrefix("rejected") == true)
        }
    }

    @Test func failuresOfTheModelServerAreClearAndKept() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        let script = ModelScript([])
        let done = "data: [DONE]\n\n"
        let cases: [(answers: [Answer], expected: String)] = [
            ([.status(500, #"{"error":{"message":"overloaded"}}"#)], "The language model could not answer: the model server answered 500: overloaded."),
            ([.status(401, "nope")], "The language model could not answer: the model server answered 401."),
            ([.stream(["data: {not json\n\n", done])], "makes no sense: an event that is not a JSON object"),
            ([.stream([#"data: {"error":{"message":"context too long"}}"# + "\n\n"])], "the model server reported an error: context too long"),
            ([.stream([#"data: {"choices":[{"index":0,"delta":{}}]}"# + "\n\n", done])], "makes no sense: an empty reply"),
            ([.json("<html>hello</html>")], "neither server-sent events nor a JSON completion"),
            ([.stream(Self.text("a") + [Self.text("b")[0]])], "makes no sense: an event after [DONE]"),
            // Understood: a server that does not stream.
            ([.json(#"{"choices":[{"index":0,"message":{"role":"assistant","content":"A plain answer."}}]}"#)], "A plain answer."),
            // A call to a tool that does not exist, and arguments that are not JSON: the model is told, and answers.
            ([.stream(Self.toolCall(id: "c1", name: "no_such-tool", arguments: ["{}"])), .stream(Self.text("Sorry."))], "Sorry."),
            ([.stream(Self.toolCall(id: "c2", name: "host_memory", arguments: ["{oops"])), .stream(Self.text("Retrying is pointless."))], "Retrying is pointless."),
            // A model that never stops calling tools.
            ([.stream(Self.toolCall(id: "c3", name: "host_load", arguments: ["{}"])), .stream(Self.toolCall(id: "c4", name: "host_load", arguments: ["{}"]))],
             "I stopped after 2 steps without reaching an answer."),
        ]
        try await Self.modelServer(script).test(.live) { model in
            try await harness.test { client in
                try await Self.configure(client, port: try #require(model.port), maxSteps: 2)
                let olga = try await ToolRoutesTests.signIn(client, "olga")
                let id = try await Self.newSession(client, olga)
                for (answers, expected) in cases {
                    script.add(answers)
                    try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"text":"check it"}"#)) { response throws in
                        #expect(response.status == .created)
                        let last = try #require(try ToolRoutesTests.json(response)["turns"]?.array?.last)
                        #expect(last["text"]?.string?.contains(expected) == true, "\(answers): \(last)")
                        #expect((last["failed"] == .bool(true)) == !(["A plain answer.", "Sorry.", "Retrying is pointless."].contains(expected)))
                    }
                }
                #expect(script.answers.withLock { $0.isEmpty }, "every scripted answer was asked for")
                let turns = try harness.core.chat.turns(of: try #require(TimeOrderedID(id)))
                #expect(turns.filter { $0.role == .tool }.map(\.text).contains { $0.hasPrefix("error: no tool") || $0.contains("no_such-tool") })
                #expect(turns.filter { $0.role == .tool }.map(\.text).contains("error: the arguments are not a JSON object"))
                // Failure turns are never shown to the model again.
                let lastRequest = try #require(script.bodies.last?["messages"]?.array)
                #expect(!lastRequest.contains { $0["content"]?.string?.contains("could not answer") == true })

                // Nobody listening on the configured address.
                try await Self.configure(client, port: 1, baseURL: "http://127.0.0.1:1/v1")
                try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"text":"hello?"}"#)) { response throws in
                    let last = try #require(try ToolRoutesTests.json(response)["turns"]?.array?.last)
                    #expect(last["text"]?.string?.contains("could not be reached") == true, "\(last)")
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aSilentServerTimesOutAndOneAnswerAtATime() async throws {
        let (harness, organization) = try await ToolRoutesTests.world()
        let (release, releaser) = AsyncStream.makeStream(of: Void.self)
        let script = ModelScript([.stall(first: [#"data: {"choices":[{"index":0,"delta":{"content":"Thinking"}}]}"# + "\n\n"], release: release)])
        try await Self.modelServer(script).test(.live) { model in
            try await harness.test { client in
                try await Self.configure(client, port: try #require(model.port), timeoutSeconds: 1)
            }
            let olga = try #require(try harness.core.accounts.user(named: "olga"))
            let principal = Principal(user: olga, organizationID: organization.id, role: .operator, sessionKey: nil, csrfToken: nil)
            let session = try await harness.core.chat.create(title: "Slow", by: principal)
            let (_, events) = try await harness.core.assistant.reply(to: "are you there?", in: session.id, by: principal, requestID: "r1")
            var seen: [AssistantEvent] = []
            for await event in events {
                seen.append(event)
                if event == .text("Thinking") {
                    // The first answer is still being written: a second message is refused, and nothing of it is stored.
                    await #expect(throws: PortalError.conflict("the assistant is still answering in this conversation")) {
                        _ = try await harness.core.assistant.reply(to: "hello?", in: session.id, by: principal, requestID: "r2")
                    }
                }
            }
            releaser.yield()
            releaser.finish()
            guard case let .turn(failure)? = seen.dropLast().last else { Issue.record("no failure turn: \(seen)"); return }
            #expect(failure.failed == true && failure.text == "The language model could not answer: the model server did not answer within 1 s.")
            #expect(seen.last == .finished(pausedOnRun: nil))
            #expect(try harness.core.chat.turns(of: session.id).map(\.text) == ["are you there?", failure.text])
            // Free again once the answer ended.
            script.add([.stream(Self.text("Yes."))])
            let turns = try await harness.core.assistant.replyAndWait(to: "still there?", in: session.id, by: principal, requestID: "r3")
            #expect(turns.last?.text == "Yes.")
        }
    }

    @Test func settingsKeepTheKeySealedAndAreForSystemAdministrators() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let root = try await ToolRoutesTests.signIn(client, "root"), ada = try await ToolRoutesTests.signIn(client, "ada"), olga = try await ToolRoutesTests.signIn(client, "olga")
            try await client.execute(uri: "/api/assistant", method: .get, headers: olga.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["model"] == .null, "no model: the embedded default")
            }
            let good = #"{"enabled":true,"baseURL":"https://models.example.test/v1","model":"m1","apiKey":"sk-very-secret-model-key"}"#
            try await client.execute(uri: "/api/assistant/settings", method: .put, headers: ada.headers, body: ByteBuffer(string: good)) {
                #expect($0.status == .forbidden, "an organization admin is not a system administrator")
            }
            for (bad, field) in [(#"{"enabled":true,"baseURL":"ftp://x/v1","model":"m"}"#, "baseURL"), (#"{"enabled":true,"baseURL":"https://x/v1","model":""}"#, "model"),
                                 (#"{"enabled":true,"baseURL":"https://x/v1","model":"m","maxSteps":0}"#, "maxSteps")] {
                try await client.execute(uri: "/api/assistant/settings", method: .put, headers: root.headers, body: ByteBuffer(string: bad)) { response throws in
                    #expect(response.status == .badRequest)
                    #expect(try ToolRoutesTests.json(response)["detail"]?.string?.contains(field) == true)
                }
            }
            try await client.execute(uri: "/api/assistant/settings", method: .put, headers: root.headers, body: ByteBuffer(string: good)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/assistant/settings", method: .get, headers: root.headers) { response throws in
                let body = try ToolRoutesTests.json(response)
                #expect(body["hasAPIKey"] == .bool(true) && body["apiKey"] == nil && body["model"] == .string("m1") && body["maxSteps"] == .number(6))
                #expect(!String(buffer: response.body).contains("sk-very-secret"))
            }
            try await client.execute(uri: "/api/assistant", method: .get, headers: olga.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["model"] == .string("m1"))
            }
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.environment.path + "/data.mdb"))
        #expect(data.range(of: Data("sk-very-secret-model-key".utf8)) == nil, "the key is sealed at rest")
    }
}

extension JSONAny {
    /// The value as JSON text.
    var json: String { String(decoding: canonicalJSON, as: UTF8.self) }
}
