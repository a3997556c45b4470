import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Portal
@testable import Web

/// Times in request bodies are read as RFC 3339 writes them (what the API document's
/// `date-time` promises): fractions of any length, offsets up to ±23:59; anything else is a
/// 400 naming the field, never a crash or a "not JSON"; a body that is not JSON says so.
@Suite struct ChangeRoutesTests {
    @Test func bodyTimesAreReadAsRFC3339WritesThem() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let ada = try await ToolRoutesTests.signIn(client, "ada")
            func put(_ start: String) async throws -> (HTTPResponse.Status, JSONAny) {
                let body = #"{"normalCAB":{"mode":"any-one","role":"admin"},"emergencyCAB":{"mode":"any-one","role":"admin"},"freezes":[{"start":"\#(start)","end":"2031-01-01T00:00:00Z","reason":"close"}]}"#
                return try await client.execute(uri: "/api/change-settings", method: .put, headers: ada.headers, body: ByteBuffer(string: body)) { response throws in
                    (response.status, try ToolRoutesTests.json(response))
                }
            }
            for (text, utc) in [("2030-01-01T10:00:00.123456Z", "2030-01-01T10:00:00Z"), ("2030-01-01T10:00:00+22:33", "2029-12-31T11:27:00Z"),
                                ("2030-01-01t10:00:00-23:59", "2030-01-02T09:59:00Z")] {
                let (status, body) = try await put(text)
                #expect(status == .ok, "\(text): \(body)")
                #expect(body["freezes"]?.array?.first?["start"] == .string(utc), "\(text)")
            }
            try await client.execute(uri: "/api/change-settings", method: .put, headers: ada.headers, body: ByteBuffer(string: "{not json")) { response throws in
                let problem = try ToolRoutesTests.json(response)
                #expect(response.status == .badRequest && problem["detail"] == .string("The body must be JSON."))
            }
            let (status, problem) = try await put("2030-13-01T10:00:00Z")
            #expect(status == .badRequest)
            #expect(problem["detail"]?.string == "The JSON body does not match: field 'freezes.Index 0.start': '2030-13-01T10:00:00Z' is not an RFC 3339 time such as 2026-11-26T09:00:00Z", "\(problem)")
        }
    }
}
