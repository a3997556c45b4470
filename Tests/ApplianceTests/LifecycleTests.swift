import Foundation
import Glibc
import TestSupport
import Testing

/// Process-level tests of `portal serve`: start-up, first-start sign-in instructions, graceful
/// shutdown with a request in flight, and restart on the same data.
@Suite struct LifecycleTests {
    @Test func firstStartPrintsTheAdministratorOnceAndRestartKeepsIt() throws {
        let first = try PortalProcess()
        let banner = first.standardOutput.contents
        #expect(banner.contains("First start: an administrator account was created."))
        #expect(banner.contains("Username: admin"))
        let passwordLine = try #require(banner.split(separator: "\n").first { $0.contains("Password:") })
        let password = String(passwordLine.split(separator: ":").last!).trimmingCharacters(in: .whitespaces)
        #expect(password.count == 20)
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        // The password is in no log line, and not in the data files in clear.
        #expect(!first.standardError.contents.contains(password))
        let dataFile = try Data(contentsOf: URL(fileURLWithPath: first.dataDirectory + "/data.mdb"))
        #expect(dataFile.range(of: Data(password.utf8)) == nil)
        #expect(dataFile.range(of: Data("pbkdf2-sha256$600000$".utf8)) != nil)

        let second = try PortalProcess(dataDirectory: first.dataDirectory)
        #expect(!second.standardOutput.contents.contains("First start"))
        second.signal(SIGINT)
        #expect(second.waitForExit() == 0)
    }

    @Test func dataFilesAreOwnerOnly() throws {
        let portal = try PortalProcess()
        let attributes = try FileManager.default.attributesOfItem(atPath: portal.dataDirectory + "/data.mdb")
        let permissions = try #require(attributes[.posixPermissions] as? Int)
        #expect(permissions & 0o077 == 0)
        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
    }

    /// SIGTERM with a request in flight: the listener closes at once, the request still gets
    /// its answer, storage closes after it, and the process exits 0.
    @Test func sigtermLetsAnInFlightRequestFinish() throws {
        let portal = try PortalProcess(environment: ["PORTAL_LOG_LEVEL": "debug", "PORTAL_SERVER_SHUTDOWN_GRACE_SECONDS": "20"])
        let body = #"{"csp-report":{"violated-directive":"script-src","blocked-uri":"inline"}}"#
        let split = body.index(body.startIndex, offsetBy: 20)
        let connection = try RawHTTPConnection(port: portal.port)
        try connection.send(
            "POST /api/csp-report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body[..<split]
        )
        try portal.standardError.waitForLine(containing: #""route":"/api/csp-report""#, timeout: .seconds(10))

        portal.signal(SIGTERM)
        try portal.standardError.waitForLine(containing: "shutting down", timeout: .seconds(10))
        #expect(try Self.waitUntilConnectionsAreRefused(port: portal.port))
        #expect(portal.process.isRunning, "the process must wait for the in-flight request")

        try connection.send(String(body[split...]))
        let response = try connection.readResponse()
        #expect(response.status == 204)

        #expect(portal.waitForExit() == 0)
        let log = portal.standardError.contents
        let answered = try #require(log.range(of: #""status":"204""#))
        let closed = try #require(log.range(of: "storage closed"))
        #expect(answered.lowerBound < closed.lowerBound, "storage must close after the last request")
    }

    /// Polls connect() until the listener is gone (bounded): the server closes its listening socket
    /// shortly after the shutdown notice, on its own event loop.
    static func waitUntilConnectionsAreRefused(port: Int) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            do {
                _ = try RawHTTPConnection(port: port)
            } catch let error as RawHTTPConnection.ConnectionError where error.errno == ECONNREFUSED {
                return true
            }
            usleep(20_000)
        }
        return false
    }

    @Test func aPortInUseIsAClearErrorNotACrash() throws {
        let first = try PortalProcess()
        let second = try PortalProcess.run(["serve", "--port", String(first.port), "--data-dir", TemporaryDirectory.make()])
        #expect(second.status == 1, "a clean exit, not a crash")
        #expect(second.error.contains("Address already in use") || second.error.contains("address already in use"), "\(second.error)")
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
    }

    @Test func versionPrintsTheVersion() throws {
        let result = try PortalProcess.run(["version"])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("portal 0."))
    }
}
