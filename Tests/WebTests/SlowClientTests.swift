import Foundation
import Hummingbird
import Logging
import Portal
import ServiceLifecycle
import TestSupport
import Testing
@testable import Web

/// Clients that send slowly, or open many connections, cannot hold the server: headers and
/// bodies have deadlines and one address has a connection cap, while everyone else is served.
/// Raw sockets against a real server on loopback, with short limits.
@Suite struct SlowClientTests {
    /// Runs a server with `limits` on a free loopback port for `body`.
    static func withServer(_ limits: ConnectionLimits, _ body: @Sendable (Int) async throws -> Void) async throws {
        let harness = try await WebTestHarness()
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: buildRouter(core: harness.core, assets: try AssetCatalog()), server: limits.server(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) })
        let services = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "slow-client-tests")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body(port)
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    static func healthy(_ port: Int) async throws -> Bool {
        try await offPool { try RawHTTPConnection.get(port: port, "/healthz").status == 200 }
    }

    static func connect(_ port: Int) async throws -> RawHTTPConnection {
        try await offPool { try RawHTTPConnection(port: port) }
    }

    /// Sends `text` a byte at a time, one every `interval`, until the server closes the
    /// connection or it is all sent; returns when that was.
    static func trickle(_ connection: RawHTTPConnection, _ text: String, every interval: Duration) async throws -> ContinuousClock.Instant {
        try await offPool {
            for character in text {
                do { try connection.send(String(character)) } catch { break }
                if connection.read(timeout: interval).closed { break }
            }
            return ContinuousClock.now
        }
    }

    @Test func headersTrickledByteByByteAreCutAtTheDeadlineWhileOthersAreServed() async throws {
        try await Self.withServer(ConnectionLimits(headerTimeout: .seconds(1), bodyTimeout: .seconds(1), idleTimeout: .seconds(5))) { port in
            let opened = ContinuousClock.now
            let slow = try await Self.connect(port)
            // A request whose headers would take 60 s at this pace.
            let headers = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + String(repeating: "X-Padding: slowloris\r\n", count: 25) + "\r\n"
            async let held = Self.trickle(slow, headers, every: .milliseconds(100))
            // Meanwhile the server answers others.
            for _ in 0..<5 { #expect(try await Self.healthy(port)) }
            let duration = opened.duration(to: try await held)
            #expect(duration < .seconds(10), "the trickling connection was closed after \(duration)")
            #expect(duration >= .milliseconds(900), "not before the deadline: \(duration)")
            #expect(try await Self.healthy(port))
        }
    }

    @Test func aBodyTrickledAfterItsHeadersIsCutAtTheBodyDeadline() async throws {
        try await Self.withServer(ConnectionLimits(headerTimeout: .seconds(5), bodyTimeout: .seconds(1), idleTimeout: .seconds(5))) { port in
            let slow = try await Self.connect(port)
            let body = String(repeating: "x", count: 400)
            try slow.send("POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let sent = ContinuousClock.now
            let duration = sent.duration(to: try await Self.trickle(slow, body, every: .milliseconds(100)))
            #expect(duration < .seconds(10), "the trickled body was cut after \(duration)")
            #expect(try await Self.healthy(port))
        }
    }

    @Test func anIdleConnectionIsClosedAndOneThatNeverSpeaksToo() async throws {
        try await Self.withServer(ConnectionLimits(headerTimeout: .seconds(1), bodyTimeout: .seconds(1), idleTimeout: .seconds(1))) { port in
            let silent = try await Self.connect(port)
            #expect(try await offPool { silent.read(timeout: .seconds(10)) }.closed, "a connection that sends nothing is closed")
            let kept = try await Self.connect(port)
            try kept.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answered = try await offPool { kept.read(timeout: .seconds(10)) { $0.contains(#""status":"ok""#) } }
            #expect(answered.text.hasPrefix("HTTP/1.1 200"))
            #expect(try await offPool { kept.read(timeout: .seconds(10)) }.closed, "a kept-alive connection with nothing to do is closed")
        }
    }

    @Test func oneAddressHoldsAtMostItsShareOfConnections() async throws {
        try await Self.withServer(ConnectionLimits(headerTimeout: .seconds(30), idleTimeout: .seconds(30), maxConnectionsPerAddress: 3)) { port in
            // Three kept-alive connections, each answered once, so the server surely counts them
            // before the fourth arrives (connections are set up on several event loops).
            var held: [RawHTTPConnection] = []
            for _ in 0..<3 {
                let connection = try await Self.connect(port)
                try connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(try await offPool { connection.read(timeout: .seconds(10)) { $0.contains(#""status":"ok""#) } }.text.hasPrefix("HTTP/1.1 200"))
                held.append(connection)
            }
            // The fourth is closed at once, without an answer.
            let refused = try await Self.connect(port)
            let answer = try await offPool { refused.read(timeout: .seconds(10)) }
            #expect(answer.closed && answer.text.isEmpty)
            // The held ones are still served.
            let first = held[0]
            try first.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(try await offPool { first.read(timeout: .seconds(10)) }.text.contains("HTTP/1.1 200"))
            // Once one closes — the server half-closed it after its answer; the client closes
            // its side — another may connect (the server learns of the close on its own event
            // loop: retried until a deadline).
            first.shutDown()
            let deadline = ContinuousClock.now + .seconds(10)
            var served = false
            while !served && ContinuousClock.now < deadline {
                served = (try? await Self.healthy(port)) ?? false
            }
            #expect(served)
            _ = held
        }
    }
}
