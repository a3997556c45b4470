import Foundation
import HTTPTypes
import KV
import Hummingbird
import HummingbirdTesting
import Portal
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

    /// `/readyz` says not ready, and why, when the data directory is on a read-only file system
    /// or has less free space than configured: a real 8 MiB tmpfs, and then the data directory
    /// bound read-only over itself while the portal has it open (as when a disk fails and the
    /// kernel remounts it read-only).
    @Test func notReadyOnAReadOnlyOrNearlyFullDataDirectory() async throws {
        func mount(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/mount")
            process.arguments = arguments
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "mount \(arguments.joined(separator: " ")) (the tests run as root)")
        }
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("portal-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try mount(["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint])
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = ["-l", mountPoint]
            if (try? unmount.run()) != nil { unmount.waitUntilExit() }
        }
        var options = KV.Environment.Options()
        options.mapSize = 1 << 20
        let environment = try KV.Environment(directory: mountPoint + "/data", options: options)
        defer { environment.close() }
        let core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
        func readiness(minimumFreeBytes: UInt64) async throws -> (HTTPResponse.Status, String) {
            let app = Application(router: buildRouter(core: core, assets: try AssetCatalog(), options: WebOptions(minimumFreeBytes: minimumFreeBytes)))
            return try await app.test(.router) { client in
                try await client.execute(uri: "/readyz", method: .get) { ($0.status, String(buffer: $0.body)) }
            }
        }
        // 8 MiB free at most, under the default 16 MiB threshold.
        #expect(try await readiness(minimumFreeBytes: StorageHealth.defaultMinimumFreeBytes) == (.serviceUnavailable, #"{"status":"not_ready","checks":{"storage":"low_disk"}}"#))
        #expect(try await readiness(minimumFreeBytes: 1 << 20) == (.ok, #"{"status":"ready","checks":{"storage":"ok"}}"#))
        try mount(["--bind", mountPoint + "/data", mountPoint + "/data"])
        try mount(["-o", "remount,bind,ro", mountPoint + "/data"])
        #expect(try await readiness(minimumFreeBytes: 1 << 20) == (.serviceUnavailable, #"{"status":"not_ready","checks":{"storage":"read_only"}}"#))
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
