import Foundation
import Hummingbird
import HummingbirdTesting
import KV
import Portal
@testable import Web

/// A portal on a temporary data directory, served through Hummingbird's in-process router tester.
struct WebTestHarness {
    let environment: KV.Environment
    let core: PortalCore

    init() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-web-\(UUID().uuidString)").path
        environment = try KV.Environment(directory: directory)
        core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000), reindexRetryDelay: .milliseconds(20))
    }

    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: buildRouter(core: core, assets: try AssetCatalog()))
        return try await app.test(.router, body)
    }
}
