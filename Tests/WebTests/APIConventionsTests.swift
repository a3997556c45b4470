import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// The conventions of API v1, each where it can fail: one handler at two addresses, unknown
/// query parameters named in a 400 with a stable problem type, cursor pages whose `next` link
/// leads through every record once, capped pages that say so, `Location` in v1 on a v1
/// request, `Idempotency-Key` replay/422/409 (also across a restart and between callers),
/// and `ETag`/`If-Match` lost updates refused with 412 while nothing changes.
@Suite struct APIConventionsTests {
    typealias Session = ToolRoutesTests.Session

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, headers: HTTPFields) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) { $0 }
    }

    @Test func v1IsTheSameHandlerWithItsOwnAddresses() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga")
            let web = try await client.execute(uri: "/api/tools/host.memory", method: .get, headers: olga.headers) { try ToolRoutesTests.json($0) }
            let stable = try await client.execute(uri: "/api/v1/tools/host.memory", method: .get, headers: olga.headers) { try ToolRoutesTests.json($0) }
            #expect(web == stable && web["name"] == .string("host.memory"))

            // A v1 creation points into v1; the web client's into its own.
            let created = try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: olga.headers)
            #expect(created.status == .created)
            let id = try #require(try ToolRoutesTests.json(created)["id"]?.string)
            #expect(created.headers[.location] == "/api/v1/runs/\(id)")
            let webCreated = try await Self.post(client, "/api/tools/host.memory/runs", #"{"input":{}}"#, headers: olga.headers)
            #expect(webCreated.headers[.location]?.hasPrefix("/api/runs/") == true)
            // Only the web client's routes stay out of v1.
            try await client.execute(uri: "/api/v1/setup", method: .get, headers: olga.headers) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/events", method: .get, headers: olga.headers) { #expect($0.status == .notFound) }
        }
    }

    @Test func unknownQueryParametersAreNamedWithAStableType() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga")
            for uri in ["/api/v1/runs?tol=host.load", "/api/runs?outcome=failed", "/api/v1/tools?x=1"] {
                try await client.execute(uri: uri, method: .get, headers: olga.headers) { response throws in
                    #expect(response.status == .badRequest, "\(uri)")
                    let problem = try ToolRoutesTests.json(response)
                    #expect(problem["type"] == .string("/#/api/problems/unknown-parameter"))
                    let name = String(uri.split(separator: "?")[1].split(separator: "=")[0])
                    #expect(problem["detail"]?.string?.contains("'\(name)'") == true, "the parameter is named")
                }
            }
            // Other errors carry their own types.
            try await client.execute(uri: "/api/v1/runs/\(TimeOrderedID.generate())", method: .get, headers: olga.headers) { response throws in
                #expect(response.status == .notFound)
                #expect(try ToolRoutesTests.json(response)["type"] == .string("/#/api/problems/not-found"))
            }
            try await client.execute(uri: "/api/v1/runs", method: .get) { response throws in
                #expect(try ToolRoutesTests.json(response)["type"] == .string("/#/api/problems/unauthenticated"))
            }
        }
    }

    @Test func cursorPagesLeadThroughEveryRecordOnceAndCapsSaySo() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga")
            var created: [String] = []
            for _ in 0..<5 {
                let response = try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: olga.headers)
                created.append(try #require(try ToolRoutesTests.json(response)["id"]?.string))
            }
            var seen: [String] = []
            var next: String? = "/api/v1/runs?limit=2&tool=host.memory"
            var pages = 0
            while let link = next {
                let (page, header) = try await client.execute(uri: link, method: .get, headers: olga.headers) { response throws in
                    #expect(response.status == .ok)
                    return (try ToolRoutesTests.json(response), response.headers[.link])
                }
                pages += 1
                seen += page["runs"]?.array?.compactMap { $0["id"]?.string } ?? []
                next = page["next"]?.string
                #expect(page["limit"] == .number(2))
                if let next {
                    #expect(header == "<\(next)>; rel=\"next\"")
                    #expect(next.hasPrefix("/api/v1/runs?") && next.contains("tool=host.memory"), "the link keeps the filters")
                } else {
                    #expect(header == nil)
                }
            }
            #expect(seen == created.reversed(), "newest first, each once")
            #expect(pages == 3)
            // A page larger than allowed is served at the cap, and says so.
            try await client.execute(uri: "/api/v1/runs?limit=100000", method: .get, headers: olga.headers) { response throws in
                #expect(response.status == .ok)
                #expect(try ToolRoutesTests.json(response)["limit"] == .number(200))
            }
            for bad in ["limit=0", "limit=ten", "cursor=nonsense"] {
                try await client.execute(uri: "/api/v1/runs?\(bad)", method: .get, headers: olga.headers) { #expect($0.status == .badRequest, "\(bad)") }
            }
        }
    }

    @Test func idempotencyKeyReplaysRefusesOtherBodiesAndIsPerCaller() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga"), ada = try await ToolRoutesTests.signIn(client, "ada")
            var headers = olga.headers
            headers[.idempotencyKey] = "run-7f3c"
            let first = try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: headers)
            #expect(first.status == .created && first.headers[.idempotentReplayed] == nil)
            let again = try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: headers)
            #expect(again.status == .created && again.headers[.idempotentReplayed] == "true")
            #expect(Array(buffer: again.body) == Array(buffer: first.body), "the first answer, byte for byte")
            #expect(again.headers[.location] == first.headers[.location])
            // The web client's address is the same operation: the same key replays there too.
            let viaWeb = try await Self.post(client, "/api/tools/host.memory/runs", #"{"input":{}}"#, headers: headers)
            #expect(viaWeb.headers[.idempotentReplayed] == "true")
            // Exactly one run was made.
            let runs = try await client.execute(uri: "/api/v1/runs?tool=host.memory", method: .get, headers: olga.headers) { try ToolRoutesTests.json($0) }
            #expect(runs["runs"]?.array?.count == 1)

            let other = try await Self.post(client, "/api/v1/tools/host.load/runs", #"{"input":{}}"#, headers: headers)
            #expect(other.status == .unprocessableContent)
            #expect(try ToolRoutesTests.json(other)["type"] == .string("/#/api/problems/idempotency-key-reused"))

            // Another caller's key of the same name is theirs.
            var adaHeaders = ada.headers
            adaHeaders[.idempotencyKey] = "run-7f3c"
            let adas = try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: adaHeaders)
            #expect(adas.status == .created && adas.headers[.idempotentReplayed] == nil)

            // A refused request frees its key: the corrected request runs.
            headers[.idempotencyKey] = "bad-then-good"
            let refused = try await Self.post(client, "/api/v1/tools/host.disk-usage/runs", #"{"input":{"path":"relative"}}"#, headers: headers)
            #expect(refused.status == .badRequest)
            let corrected = try await Self.post(client, "/api/v1/tools/host.disk-usage/runs", #"{"input":{"path":"/"}}"#, headers: headers)
            #expect(corrected.status == .created && corrected.headers[.idempotentReplayed] == nil, "errors are neither stored nor replayed")

            headers[.idempotencyKey] = String(repeating: "k", count: 256)
            #expect(try await Self.post(client, "/api/v1/tools/host.memory/runs", #"{"input":{}}"#, headers: headers).status == .badRequest)
        }
    }

    /// While the first request runs, the same key is 409; a claim left by a process that
    /// ended (a crash mid-request) is 409 "interrupted", never run a second time.
    @Test func aKeyInFlightOrInterruptedIsNeverRunTwice() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        let keys = harness.core.idempotencyKeys
        let fingerprint = Array("POST /api/tools/x/runs\n{}".utf8)
        #expect(try await keys.claim(scope: "user:1@org", key: "k", fingerprint: fingerprint) == .claimed)
        await #expect(throws: IdempotencyKeys.Refusal.inUse(interrupted: false)) {
            try await keys.claim(scope: "user:1@org", key: "k", fingerprint: fingerprint)
        }
        let restarted = try IdempotencyKeys(environment: harness.core.environment, clock: SystemClock())
        await #expect(throws: IdempotencyKeys.Refusal.inUse(interrupted: true)) {
            try await restarted.claim(scope: "user:1@org", key: "k", fingerprint: fingerprint)
        }
        try await keys.finish(scope: "user:1@org", key: "k", response: .init(status: 201, headers: ["content-type": "application/json"], body: Array("{}".utf8)))
        #expect(try await restarted.claim(scope: "user:1@org", key: "k", fingerprint: fingerprint)
            == .replay(.init(status: 201, headers: ["content-type": "application/json"], body: Array("{}".utf8))))
    }

    /// `If-Match` lists as RFC 9110 writes them: spaces and tabs around commas, empty
    /// elements, commas inside a tag's quotes; anything else is not a list.
    @Test func ifMatchListsParseAsTheRFCWritesThem() {
        #expect(APIConventions.entityTags("W/\"=F04\" \t ,\t\t\"q0p>K,;E.R30\", \"#U\"\t  ,, *") == ["W/\"=F04\"", "\"q0p>K,;E.R30\"", "\"#U\"", "*"])
        #expect(APIConventions.entityTags("") == [])
        #expect(APIConventions.entityTags(" , ,") == [])
        for bad in ["abc", "\"open", "\"a\" \"b\"", "W/x", "\"sp ace\"", "\"a\"x"] {
            #expect(APIConventions.entityTags(bad) == nil, "\(bad)")
        }
    }

    @Test func ifMatchRefusesALostUpdateAndChangesNothing() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let ada = try await ToolRoutesTests.signIn(client, "ada")
            @Sendable func read() async throws -> (etag: String, policy: ApprovalPolicy) {
                try await client.execute(uri: "/api/v1/approvals/policy", method: .get, headers: ada.headers) { response throws in
                    (try #require(response.headers[.eTag]), try JSONDecoder().decode(ApprovalPolicy.self, from: Data(buffer: response.body)))
                }
            }
            @Sendable func write(_ policy: ApprovalPolicy, ifMatch: String?) async throws -> TestResponse {
                var headers = ada.headers
                headers[.ifMatch] = ifMatch
                return try await client.execute(uri: "/api/v1/approvals/policy", method: .put, headers: headers,
                                                body: ByteBuffer(bytes: Array(try JSONEncoder().encode(policy)))) { $0 }
            }
            // Two editors read the same version.
            let (etag, original) = try await read()
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
            var first = original, second = original
            first.rules["low"]?.required = true
            second.rules["medium"]?.required = false
            // The first one's change lands and answers the new version…
            let landed = try await write(first, ifMatch: etag)
            #expect(landed.status == .noContent)
            let newTag = try #require(landed.headers[.eTag])
            #expect(newTag != etag)
            // …the second one's, based on what they read, is refused and changes nothing.
            let lost = try await write(second, ifMatch: etag)
            #expect(lost.status == .preconditionFailed)
            #expect(try ToolRoutesTests.json(lost)["type"] == .string("/#/api/problems/precondition-failed"))
            let (afterTag, after) = try await read()
            #expect(after == first && afterTag == newTag)
            // Re-read and re-applied, it lands; `*` and no If-Match apply unconditionally.
            var merged = after
            merged.rules["medium"]?.required = false
            #expect(try await write(merged, ifMatch: "\"stale\", \(afterTag)").status == .noContent, "any listed tag may match")
            #expect(try await write(original, ifMatch: "*").status == .noContent)
            #expect(try await write(original, ifMatch: nil).status == .noContent)
            #expect(try await read().policy == original)
        }
    }

    /// The same for a conversation's title (and every record with an ETag: webhooks and
    /// organizations use the same two functions): the second of two renames based on one
    /// version is refused and the first one's title stays.
    @Test func renamingAConversationKeepsTheFirstOfTwoConcurrentEdits() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga")
            let id = try await client.execute(uri: "/api/v1/sessions", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"title":"Disk on db-7"}"#)) {
                try #require(try ToolRoutesTests.json($0)["id"]?.string)
            }
            let etag = try await client.execute(uri: "/api/v1/sessions/\(id)", method: .get, headers: olga.headers) { try #require($0.headers[.eTag]) }
            func rename(_ title: String, ifMatch: String) async throws -> TestResponse {
                var headers = olga.headers
                headers[.ifMatch] = ifMatch
                return try await client.execute(uri: "/api/v1/sessions/\(id)", method: .patch, headers: headers, body: ByteBuffer(string: #"{"title":"\#(title)"}"#)) { $0 }
            }
            let first = try await rename("Disk on db-7 (fixed)", ifMatch: etag)
            #expect(first.status == .ok && first.headers[.eTag] != nil && first.headers[.eTag] != etag)
            #expect(try await rename("Disk on db-8", ifMatch: etag).status == .preconditionFailed)
            try await client.execute(uri: "/api/v1/sessions/\(id)", method: .get, headers: olga.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["title"] == .string("Disk on db-7 (fixed)"))
                #expect(response.headers[.eTag] == first.headers[.eTag])
            }
        }
    }

    /// Query times are RFC 3339 in full, as the document's `date-time` promises.
    @Test func timesAreReadAsRFC3339Writes() {
        let reference = Date(timeIntervalSince1970: 1_764_579_711)  // 2025-12-01T09:01:51Z
        for text in ["2025-12-01T09:01:51Z", "2025-12-01t09:01:51z", "2025-12-01T08:01:51-01:00", "2025-12-01T09:01:51.000+00:00", "2025-12-02T08:49:51+23:48"] {
            #expect(RFC3339.date(text) == reference, "\(text)")
        }
        #expect(RFC3339.date("2025-12-01T09:01:51.25Z") == reference.addingTimeInterval(0.25))
        #expect(RFC3339.date("2016-12-31T23:59:60Z") != nil, "a leap second")
        for text in ["2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-12-01T24:00:00Z", "2025-12-01T09:01:51", "2025-12-01T09:01:51+24:00", "yesterday", "", "٢٠٢٥-12-01T09:01:51Z"] {
            #expect(RFC3339.date(text) == nil, "\(text)")
        }
    }
}
