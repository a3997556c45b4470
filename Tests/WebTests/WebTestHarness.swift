import Foundation
import Hummingbird
import HummingbirdTesting
import KV
import Portal
import TestSupport
@testable import Web

/// A portal on a temporary data directory, served through Hummingbird's in-process router
/// tester (`test`) or on a loopback socket (`testLive`). Its clock is a `ManualClock` the test
/// moves, so expiry is proven by moving time, never by waiting.
/// It never adopts the default embedder (`resumeAfterStart` is not called): search stays on
/// the hashing embedder unless a test chooses another.
struct WebTestHarness {
    let environment: KV.Environment
    let core: PortalCore
    let clock: ManualClock
    let options: WebOptions
    /// The jobs runner and outbox consumers, as `portal serve` runs them.
    let services: RunningServices

    init(options: WebOptions = WebOptions(), signInPolicy: SignInPolicy = SignInPolicy(), toolOptions: ToolRuntimeOptions? = nil) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-web-\(UUID().uuidString)").path
        environment = try KV.Environment(directory: directory)
        clock = ManualClock()
        self.options = options
        core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000), signInPolicy: signInPolicy,
                                    toolOptions: toolOptions, reindexRetryDelay: .milliseconds(20), clock: clock,
                                    shutdownGrace: .seconds(1))
        services = core.startServices()
    }

    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: buildRouter(core: core, assets: try AssetCatalog(), options: options))
        return try await app.test(.router, body)
    }

    /// The same, over a real loopback connection: the peer address is 127.0.0.1, and
    /// `server` (connection limits) is in the pipeline.
    func testLive<Value: Sendable>(server: ConnectionLimits = ConnectionLimits(), _ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: buildRouter(core: core, assets: try AssetCatalog(), options: options), server: server.server(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live, body)
    }
}
