import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import TestSupport
import Testing
@testable import Web

/// `GET /api/events` ends with the right to see it: after sign-out, key revocation or removal
/// from the organization, the stream closes and delivers nothing more. Read over a real socket,
/// event by event.
@Suite struct EventStreamTests {
    /// Opens the stream with `headers` and reads until the server says it is connected.
    static func open(port: Int, headers: [String: String]) async throws -> RawHTTPConnection {
        let connection = try await offPool { try RawHTTPConnection(port: port) }
        var request = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try connection.send(request + "\r\n")
        let opened = try await offPool { connection.read(timeout: .seconds(10)) { $0.contains(": connected") } }
        #expect(opened.text.hasPrefix("HTTP/1.1 200"), "\(opened.text)")
        #expect(opened.text.contains(": connected"))
        return connection
    }

    static func runFinished(_ runID: String, for user: UUID, in organization: UUID) -> PortalNotification {
        PortalNotification(kind: .runSucceeded, organizationID: organization, runID: runID, tool: "host.kernel", status: "succeeded", audience: .users([user]))
    }

    /// Delivers one event, lets `end` take the access away, then publishes another: the stream
    /// must close without it.
    static func expectStreamEnds(_ connection: RawHTTPConnection, core: PortalCore, user: UUID, organization: UUID,
                                 end: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        core.notifications.publish(runFinished("before-\(user)", for: user, in: organization))
        let delivered = try await offPool { connection.read(timeout: .seconds(10)) { $0.contains("before-\(user)") } }
        #expect(delivered.text.contains("event: run.succeeded"), sourceLocation: sourceLocation)
        try await end()
        core.notifications.publish(runFinished("after-\(user)", for: user, in: organization))
        let rest = try await offPool { connection.read(timeout: .seconds(10)) }
        #expect(rest.closed, "the stream must end", sourceLocation: sourceLocation)
        #expect(!rest.text.contains("after-\(user)"), "nothing is delivered after the access ended", sourceLocation: sourceLocation)
    }

    @Test func theStreamEndsWithSignOutRevocationAndRemoval() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let organization = try #require(try core.organizations.organization(slug: "default")).id
        let otto = try await core.accounts.create(username: "otto", displayName: "Otto", password: "otto-password-1")
        try await core.organizations.setRole(.operator, user: otto.id, in: organization)
        let vera = try #require(try core.accounts.user(named: "vera"))
        try await harness.testLive { client in
            let port = try #require(client.port)
            let admin = AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword))

            // Sign-out.
            let veraSession = try await AccessTests.login(client, "vera", "vera-password-1")
            let signedOut = try await Self.open(port: port, headers: ["Cookie": veraSession.cookie])
            try await Self.expectStreamEnds(signedOut, core: core, user: vera.id, organization: organization) {
                _ = try await AccessTests.json(client, .post, "/api/auth/logout", auth: AccessTests.cookie(veraSession), expect: .noContent)
            }

            // Revocation of the key that opened it.
            let ottoSession = AccessTests.cookie(try await AccessTests.login(client, "otto", "otto-password-1"))
            let key = try await APIKeyTests.create(client, ottoSession, name: "stream")
            let revoked = try await Self.open(port: port, headers: ["Authorization": "Bearer \(key.secret)"])
            try await Self.expectStreamEnds(revoked, core: core, user: otto.id, organization: organization) {
                _ = try await AccessTests.json(client, .delete, "/api/keys/\(key.id)", auth: ottoSession, expect: .noContent)
            }

            // Removal from the organization.
            let veraAgain = try await AccessTests.login(client, "vera", "vera-password-1")
            let removed = try await Self.open(port: port, headers: ["Cookie": veraAgain.cookie])
            try await Self.expectStreamEnds(removed, core: core, user: vera.id, organization: organization) {
                _ = try await AccessTests.json(client, .post, "/api/orgs/\(organization)/members", auth: admin, body: #"{"username":"vera","role":null}"#, expect: .noContent)
            }
        }
    }

    /// Others' access changing does not end a stream, and events for others never reach it.
    @Test func otherPeoplesChangesLeaveTheStreamOpen() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let organization = try #require(try core.organizations.organization(slug: "default")).id
        let vera = try #require(try core.accounts.user(named: "vera"))
        try await harness.testLive { client in
            let port = try #require(client.port)
            let admin = AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword))
            let veraSession = try await AccessTests.login(client, "vera", "vera-password-1")
            let stream = try await Self.open(port: port, headers: ["Cookie": veraSession.cookie])
            _ = try await AccessTests.json(client, .post, "/api/auth/logout", auth: admin, expect: .noContent)
            core.notifications.publish(Self.runFinished("someone-else", for: UUID(), in: organization))
            core.notifications.publish(Self.runFinished("for-vera", for: vera.id, in: organization))
            let read = try await offPool { stream.read(timeout: .seconds(10)) { $0.contains("for-vera") } }
            #expect(read.text.contains("for-vera"))
            #expect(!read.text.contains("someone-else"))
            #expect(!read.closed)
            stream.shutDown()
        }
    }
}
