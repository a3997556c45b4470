import Foundation
import HTTPTypes
import KV
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Web

/// What every response carries (security headers, request id) and how errors look.
@Suite struct EdgeTests {
    struct Problem: Decodable {
        let type: String
        let title: String
        let status: Int
        let detail: String?
        let instance: String
        let requestId: String
    }

    @Test(arguments: ["/", "/healthz", "/readyz", "/no-such-page", "/api/no-such-endpoint"])
    func everyResponseCarriesSecurityHeadersAndARequestID(path: String) async throws {
        try await WebTestHarness().test { client in
            try await client.execute(uri: path, method: .get) { response throws in
                #expect(response.headers[.contentSecurityPolicy] == SecurityHeadersMiddleware.contentSecurityPolicy)
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.referrerPolicy] == "strict-origin-when-cross-origin")
                let id = try #require(response.headers[.requestID])
                #expect(id.count == 32)
            }
        }
    }

    @Test func unknownRoutesAreProblemDocumentsWithTheRequestID() async throws {
        try await WebTestHarness().test { client in
            try await client.execute(uri: "/api/nothing?secret=1", method: .get, headers: [.requestID: "trace-42.a_b"]) { response throws in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.requestID] == "trace-42.a_b")
                let problem = try JSONDecoder().decode(Problem.self, from: Data(buffer: response.body))
                #expect(problem.status == 404)
                #expect(problem.title == "Not Found")
                #expect(problem.requestId == "trace-42.a_b")
                #expect(problem.instance == "/api/nothing")
            }
        }
    }

    @Test(arguments: ["has space", String(repeating: "a", count: 129), "semi;colon", "ünïcode", ""])
    func malformedRequestIDsAreReplaced(candidate: String) async throws {
        try await WebTestHarness().test { client in
            var headers = HTTPFields()
            headers[.requestID] = candidate
            try await client.execute(uri: "/healthz", method: .get, headers: headers) { response throws in
                let id = try #require(response.headers[.requestID])
                #expect(id != candidate)
                #expect(id.count == 32)
            }
        }
    }

    @Test func healthAndReadinessSayNoMoreThanTheyMust() async throws {
        let harness = try await WebTestHarness()
        try await harness.test { client in
            try await client.execute(uri: "/healthz", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/readyz", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready","checks":{"storage":"ok"}}"#)
            }
            harness.environment.close()
            try await client.execute(uri: "/readyz", method: .get) { response throws in
                #expect(response.status == .serviceUnavailable)
                let body = String(buffer: response.body)
                #expect(body == #"{"status":"not_ready","checks":{"storage":"unavailable"}}"#)
                #expect(!body.contains(harness.environment.path))
            }
        }
    }

    @Test func cspReportsAreAcceptedValidatedAndBounded() async throws {
        try await WebTestHarness().test { client in
            let report = #"{"csp-report":{"violated-directive":"script-src 'self'","blocked-uri":"inline"}}"#
            try await client.execute(uri: "/api/csp-report", method: .post, body: ByteBuffer(string: report)) { response throws in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/api/csp-report", method: .post, body: ByteBuffer(string: "not json")) { response throws in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            let huge = #"{"csp-report":{"blocked-uri":""# + String(repeating: "x", count: 20_000) + "\"}}"
            try await client.execute(uri: "/api/csp-report", method: .post, body: ByteBuffer(string: huge)) { response throws in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/api/csp-report", method: .get) { response throws in
                #expect(response.status == .methodNotAllowed || response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }
}
