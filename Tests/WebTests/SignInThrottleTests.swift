import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// Failed sign-ins are throttled per (account, address), per address, and paced per account,
/// each on its own — and no flood of wrong passwords locks the real person out. Client
/// addresses are set the way a deployment behind a reverse proxy sets them: the test talks to
/// a live server over loopback, which is a trusted proxy, and names the client in
/// `X-Forwarded-For`.
@Suite struct SignInThrottleTests {
    static let proxied = WebOptions(trustedProxies: ["127.0.0.1", "::1"].compactMap(NetworkRange.init))

    /// A sign-in from `address`: the status, `Retry-After` and the problem's detail.
    static func signIn(_ client: some TestClientProtocol, _ username: String, _ password: String, from address: String?) async throws
        -> (status: HTTPResponse.Status, retryAfter: Int?, detail: String) {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let address { headers[.xForwardedFor] = address }
        return try await client.execute(uri: "/api/auth/login", method: .post, headers: headers,
                                        body: ByteBuffer(string: #"{"username":"\#(username)","password":"\#(password)"}"#)) { response in
            let body = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
            return (response.status, response.headers[.retryAfter].flatMap { Int($0) }, body["detail"] as? String ?? "")
        }
    }

    @Test func oneAddressGuessingOneAccountWaitsAndOthersDoNot() async throws {
        let (harness, password) = try await AccessTests.harness(options: Self.proxied)
        try await harness.testLive { client in
            for _ in 0..<5 {
                #expect(try await Self.signIn(client, "admin", "wrong-password", from: "203.0.113.7").status == .unauthorized)
            }
            // The right password from that address now waits, and is told how long.
            let refused = try await Self.signIn(client, "admin", password, from: "203.0.113.7")
            #expect(refused.status == .tooManyRequests)
            let wait = try #require(refused.retryAfter)
            #expect((1...900).contains(wait))
            #expect(refused.detail.contains("\(wait) s"), "\(refused.detail)")
            // The real administrator, elsewhere, is not locked out.
            #expect(try await Self.signIn(client, "admin", password, from: "198.51.100.1").status == .ok)
            // After the wait, the address may try again.
            harness.clock.advance(by: .seconds(wait))
            #expect(try await Self.signIn(client, "admin", password, from: "203.0.113.7").status == .ok)
        }
    }

    @Test func oneAddressSprayingManyAccountsWaits() async throws {
        let (harness, _) = try await AccessTests.harness(options: Self.proxied, signInPolicy: SignInPolicy(failuresPerAddress: 8))
        try await harness.testLive { client in
            // One failure each for eight accounts, some of which do not exist: the pair limit
            // is never reached, the address limit is.
            for index in 0..<8 {
                #expect(try await Self.signIn(client, "user\(index)", "guess-\(index)", from: "203.0.113.9").status == .unauthorized)
            }
            let refused = try await Self.signIn(client, "vera", "vera-password-1", from: "203.0.113.9")
            #expect(refused.status == .tooManyRequests)
            #expect((refused.retryAfter ?? 0) > 0)
            #expect(try await Self.signIn(client, "vera", "vera-password-1", from: "203.0.113.10").status == .ok)
        }
    }

    /// Many addresses, one wrong password each, against one account: past ten failures every
    /// address that failed there must pace its next attempt (one second per further failure),
    /// while an address that never failed signs in at once.
    @Test func manyAddressesAgainstOneAccountArePacedAndNeverLockItOut() async throws {
        let (harness, password) = try await AccessTests.harness(options: Self.proxied)
        try await harness.testLive { client in
            for index in 0..<40 {
                #expect(try await Self.signIn(client, "admin", "guess-\(index)", from: "203.0.113.\(index + 1)").status == .unauthorized)
            }
            // 40 failures: 31 s between attempts for an address that failed.
            let paced = try await Self.signIn(client, "admin", password, from: "203.0.113.1")
            #expect(paced.status == .tooManyRequests)
            #expect(paced.retryAfter == 31)
            #expect(try await Self.signIn(client, "admin", password, from: "192.0.2.44").status == .ok, "a fresh address is never held up")
            harness.clock.advance(by: .seconds(31))
            #expect(try await Self.signIn(client, "admin", password, from: "203.0.113.1").status == .ok, "a paced address gets through after the pause")
        }
    }

    /// Without a trusted proxy, `X-Forwarded-For` is the client's own say and is ignored: the
    /// peer's address is throttled however the header varies.
    @Test func aClientCannotChooseItsAddress() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.testLive { client async throws in
            for index in 0..<5 {
                #expect(try await Self.signIn(client, "vera", "nope", from: "203.0.113.\(index)").status == .unauthorized)
            }
            #expect(try await Self.signIn(client, "vera", "vera-password-1", from: "203.0.113.99").status == .tooManyRequests)
        }
    }

    /// Fifty people behind one office NAT sign in at nine: the address's budget fits them.
    @Test func aBurstOfFiftySignInsFromOneAddressSucceeds() async throws {
        let (harness, _) = try await AccessTests.harness()
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        for index in 0..<50 {
            let user = try await harness.core.accounts.create(username: "person\(index)", displayName: "Person \(index)", password: "password-of-\(index)")
            try await harness.core.organizations.setRole(.viewer, user: user.id, in: organization.id)
        }
        try await harness.test { client in
            for index in 0..<50 {
                let answer = try await Self.signIn(client, "person\(index)", "password-of-\(index)", from: nil)
                #expect(answer.status == .ok, "sign-in \(index): \(answer.detail)")
            }
        }
    }

    @Test func theForwardedClientIsTheLastUntrustedHop() {
        let trusted = ["10.0.0.0/8", "127.0.0.1"].compactMap(NetworkRange.init)
        #expect(ClientAddressMiddleware.client(forwardedFor: ["198.51.100.1, 10.0.0.5"], peer: "127.0.0.1", trusted: trusted) == "198.51.100.1")
        // What the client wrote itself sits on the left of what the proxies appended.
        #expect(ClientAddressMiddleware.client(forwardedFor: ["1.2.3.4, 198.51.100.1"], peer: "10.0.0.5", trusted: trusted) == "198.51.100.1")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["1.2.3.4", "198.51.100.1"], peer: "10.0.0.5", trusted: trusted) == "198.51.100.1")
        // Garbage ends the chain; nothing at all leaves the peer.
        #expect(ClientAddressMiddleware.client(forwardedFor: ["not-an-address"], peer: "10.0.0.5", trusted: trusted) == "10.0.0.5")
        #expect(ClientAddressMiddleware.client(forwardedFor: [], peer: "10.0.0.5", trusted: trusted) == "10.0.0.5")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["10.0.0.7, 10.0.0.6"], peer: "10.0.0.5", trusted: trusted) == "10.0.0.7")
        // Hops written with a port count by their address.
        #expect(ClientAddressMiddleware.client(forwardedFor: ["198.51.100.1:5678"], peer: "10.0.0.5", trusted: trusted) == "198.51.100.1")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["[2001:db8::1]:443"], peer: "10.0.0.5", trusted: trusted) == "2001:db8::1")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["2001:db8::1"], peer: "10.0.0.5", trusted: trusted) == "2001:db8::1")
    }

    /// An IPv6 client counts as its /64: a subscriber cannot get fresh guesses from the
    /// addresses of their own prefix.
    @Test func anIPv6ClientCountsAsItsSlash64() {
        #expect(NetworkRange.subject("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64")
        #expect(NetworkRange.subject("2001:0db8:0001:0002:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64")
        #expect(NetworkRange.subject("::ffff:198.51.100.7") == "198.51.100.7", "an IPv4-mapped address is its IPv4 address")
        #expect(NetworkRange.subject("198.51.100.7") == "198.51.100.7")
        #expect(NetworkRange.subject("unknown") == "unknown")
        var throttle = SignInThrottle(policy: SignInPolicy())
        let now = Date()
        for host in 1...5 { throttle.recordFailure(account: "admin", address: "2001:db8:1:2::\(host)", now: now) }
        #expect(throttle.wait(account: "admin", address: "2001:db8:1:2::99", now: now) != nil)
        #expect(throttle.wait(account: "admin", address: "2001:db8:1:3::1", now: now) == nil)
    }
}

/// The single sign-on callback reads its parameters as form data, as OAuth providers send them.
@Suite struct FormQueryTests {
    @Test func plusIsASpaceAndPercentEscapesAreBytes() {
        let query = FormQuery("error=access_denied&error_description=the+user+declined%2C+%C3%A9t%C3%A9&state=a%2Bb&flag&bad=%ZZ%4")
        #expect(query.get("error") == "access_denied")
        #expect(query.get("error_description") == "the user declined, été")
        #expect(query.get("state") == "a+b")
        #expect(query.get("flag") == "")
        #expect(query.get("bad") == "%ZZ%4", "malformed escapes stay as they are")
        #expect(query.get("missing") == nil)
    }
}
