import Foundation
import Hummingbird
import HummingbirdTesting
import Portal
import TestSupport
import Testing
@testable import Web

/// What the edge refuses before a handler sees a body, over real sockets: bodies past the
/// route's limit (413, limit named, connection closed while the client is still sending), the
/// wrong content type (415), a body that is not JSON (400), a method the path does not serve
/// (405 with Allow); and how long streamed responses are timed.
@Suite struct RequestLimitTests {
    static func problem(_ response: RawHTTPConnection.Response) throws -> [String: JSONAny] {
        try #require(JSONAny(json: Array(response.body))?.object)
    }

    @Test func anEightMebibyteBodyIsRefusedWith413AndTheServerClosesTheConnection() async throws {
        let harness = try await WebTestHarness()
        try await harness.testLive { client in
            let port = try #require(client.port)
            let connection = try await offPool { try RawHTTPConnection(port: port) }
            let total = 8 << 20
            try connection.send("POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(total)\r\n\r\n")
            // Keep sending the body as a client that does not read would: the server must answer
            // and close rather than wait for (or read) all 8 MiB.
            let chunk = String(repeating: "a", count: 64 << 10)
            let (answer, sentAll) = try await offPool { () -> ((text: String, closed: Bool), Bool) in
                var sent = 0
                while sent < total {
                    do { try connection.send(chunk) } catch { return (connection.read(timeout: .seconds(5)), false) }
                    sent += chunk.utf8.count
                }
                return (connection.read(timeout: .seconds(10)), true)
            }
            #expect(answer.text.hasPrefix("HTTP/1.1 413"), "\(answer.text.prefix(300))")
            #expect(answer.text.contains("1048576 bytes"), "the limit is named: \(answer.text.prefix(600))")
            #expect(answer.text.lowercased().contains("connection: close"))
            #expect(answer.closed || !sentAll, "the server closed the connection")
        }
    }

    @Test func contentTypeJSONSyntaxAndMethodAreCheckedWithClearProblems() async throws {
        let harness = try await WebTestHarness()
        try await harness.testLive { client in
            let port = try #require(client.port)
            func raw(_ method: String, _ path: String, _ headers: [String: String], body: String = "") async throws -> RawHTTPConnection.Response {
                try await offPool {
                    let connection = try RawHTTPConnection(port: port)
                    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
                    for (name, value) in headers { request += "\(name): \(value)\r\n" }
                    try connection.send(request + "\r\n" + body)
                    return try connection.readResponse()
                }
            }
            let form = try await raw("POST", "/api/auth/login", ["Content-Type": "application/x-www-form-urlencoded"], body: "username=a&password=b")
            #expect(form.status == 415)
            #expect(try Self.problem(form)["detail"]?.string?.contains("application/json") == true)
            let untyped = try await raw("POST", "/api/auth/login", [:], body: #"{"username":"a","password":"b"}"#)
            #expect(untyped.status == 415)
            let notJSON = try await raw("POST", "/api/auth/login", ["Content-Type": "application/json"], body: "username=a")
            #expect(notJSON.status == 400)
            #expect(try Self.problem(notJSON)["detail"]?.string?.contains("JSON") == true)
            let charset = try await raw("POST", "/api/auth/login", ["Content-Type": "application/json; charset=utf-8"], body: #"{"username":"nobody","password":"wrong-password-1"}"#)
            #expect(charset.status == 401, "a charset parameter is fine")

            let delete = try await raw("DELETE", "/api/me", [:])
            #expect(delete.status == 405)
            #expect(delete.header("Allow") == "GET, HEAD")
            #expect(delete.header("Content-Type") == "application/problem+json")
            let put = try await raw("PUT", "/api/sessions/0123", [:])
            #expect(put.status == 405)
            #expect(put.header("Allow") == "DELETE, GET, HEAD, PATCH")
            let unknown = try await raw("DELETE", "/api/no-such-thing", [:])
            #expect(unknown.status == 404, "a path nobody serves stays a 404")
        }
    }

    /// The request-duration histogram times an event stream until its last byte, not until its
    /// headers: a stream held open 2 s counts ≥ 2 s.
    @Test(.timeLimit(.minutes(1))) func streamedResponsesAreTimedUntilTheirLastByte() async throws {
        let (harness, _) = try await AccessTests.harness()
        let metrics = PortalMetrics()
        let app = Application(router: buildRouter(core: harness.core, assets: try AssetCatalog(), metrics: metrics, options: harness.options),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let session = try await AccessTests.login(client, "admin", AccessTests.adminPassword)
            let stream = try await EventStreamTests.open(port: port, headers: ["Cookie": session.cookie])
            let opened = ContinuousClock.now
            // The stream stays open for two seconds: the duration being measured, not a wait for
            // something to happen.
            try await Task.sleep(for: .seconds(2))
            _ = try await AccessTests.json(client, .post, "/api/auth/logout", auth: AccessTests.cookie(session), expect: .noContent)
            let rest = try await offPool { stream.read(timeout: .seconds(10)) }
            #expect(rest.closed)
            let held = opened.duration(to: .now)
            // Recorded when the body's writer returned, which is before the server closed the
            // connection the client saw closed.
            let text = try RawHTTPConnection.get(port: port, "/metrics").text
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(#"portal_http_request_duration_seconds_sum{route="/api/events",method="GET"}"#) })
            let seconds = try #require(Double(line.split(separator: " ").last ?? ""))
            #expect(seconds >= 2.0 && seconds <= Double(held.components.seconds) + 2, "timed \(seconds) s for a stream held \(held)")
        }
    }
}
