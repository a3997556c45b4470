import Foundation
import KV
import Testing
@testable import Portal

/// Webhooks in the domain: Standard Webhooks signatures (the specification's own example),
/// the address rules applied before any connection, and the consumer that turns committed
/// events into deliveries exactly once, only for the subscriptions that want them. (Sending,
/// retries, 410, Retry-After, restarts and rotation run against the real binary and a
/// receiver that checks signatures with the reference library: Tests/Browser/test_webhooks.py.)
@Suite struct WebhookTests {
    @Test func signaturesMatchTheStandardWebhooksExample() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let signature = WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: #"{"test": 2432232314}"#, secret: secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(WebhookSignature.sign(id: "x", timestamp: 1, body: "{}", secret: "not-a-secret") == nil)
        let other = WebhookSignature.newSecret()
        #expect(other.hasPrefix("whsec_") && WebhookSignature.key(of: other)?.count == 32)
        let header = WebhookSignature.header(id: "m", timestamp: 2, body: "{}", secrets: [other, secret])
        #expect(header.split(separator: " ").count == 2 && header.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") }, "one signature per secret during a rotation")
    }

    /// A receiver's `Retry-After` as seconds or as an HTTP date (RFC 9110 allows both).
    @Test func retryAfterIsReadAsSecondsOrAnHTTPDate() {
        let date = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(OutboundHTTP.retryAfterSeconds("120") == 120)
        #expect(OutboundHTTP.retryAfterSeconds("Sun, 06 Nov 1994 08:49:37 GMT", now: date.addingTimeInterval(-90)) == 90)
        #expect(OutboundHTTP.retryAfterSeconds("Sun, 06 Nov 1994 08:49:37 GMT", now: date.addingTimeInterval(5)) == 0, "a date passed: at once")
        for bad in ["-5", "soon", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 PST", ""] {
            #expect(OutboundHTTP.retryAfterSeconds(bad) == nil, "\(bad)")
        }
    }

    @Test func targetsAreCheckedOnTheNumericAddressBeforeAnyConnection() throws {
        let targets = WebhookTargets()
        for refused in ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.100.100.200", "::1", "fe80::1", "fd00::1",
                        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "0.0.0.0", "224.0.0.1"] {
            #expect(targets.refusal(for: refused) != nil, "\(refused)")
        }
        for reachable in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] { #expect(targets.refusal(for: reachable) == nil, "\(reachable)") }
        let loopback = WebhookTargets(allowed: [NetworkRange("127.0.0.0/8")!])
        #expect(loopback.refusal(for: "127.0.0.1") == nil && loopback.refusal(for: "10.0.0.1") != nil)

        // Addresses and names: the name is resolved (no connection) and the address judged.
        for (url, reason) in [("http://10.0.0.1/hook", "10.0.0.1"), ("http://169.254.169.254/latest", "169.254.169.254"),
                              ("http://[::1]:8080/x", "::1"), ("http://localhost:9/x", "127.0.0.1")] {
            let error = #expect(throws: PortalError.self) { try targets.resolve(url) }
            #expect("\(error!)".contains(reason), "\(url): \(error!)")
        }
        #expect(try loopback.resolve("http://localhost:9/x").address == "127.0.0.1")
        // How a URL appears in the audit trail and events: no path or query (often a credential).
        #expect(WebhookTargets.shown("https://hooks.slack.com/services/T000/B000/XXXXSECRET?token=y") == "https://hooks.slack.com/…")
        #expect(WebhookTargets.shown("http://[::1]:8080/") == "http://[::1]:8080")
        for (url, reason) in [("ftp://example.com/x", "http or https"), ("http://user:pass@127.0.0.1/x", "credentials"), ("http:///x", "host"),
                              ("not a url", "URL"), ("https://" + String(repeating: "a", count: 2100), "2048")] {
            let error = #expect(throws: PortalError.self) { try loopback.parse(url) }
            #expect("\(error!)".contains(reason), "\(url): \(error!)")
        }
    }

    @Test func filtersOnKindToolAndRisk() {
        let organization = UUID()
        var subscription = WebhookSubscription(id: UUID(), organizationID: organization, url: "http://127.0.0.1/x", eventTypes: [.runRefused, .keyCreated],
                                               tools: nil, minimumRisk: nil, description: "", enabled: true, disabledReason: nil, failingSince: nil,
                                               previousSecretValidUntil: nil, createdBy: UUID(), createdAt: Date(), updatedAt: Date())
        let refusal = DomainEvent.runRefused(RunRefusal(tool: "host.load", requesterID: UUID(), reason: "no"))
        let key = DomainEvent.security(SecurityEvent(kind: .keyCreated, userID: nil, username: nil, organizationID: organization, detail: ""))
        #expect(subscription.wants(refusal, in: organization) && subscription.wants(key, in: organization))
        #expect(!subscription.wants(refusal, in: UUID()), "another organization's event")
        #expect(!subscription.wants(refusal, in: nil), "a portal-wide event")
        subscription.tools = ["host.memory"]
        #expect(!subscription.wants(refusal, in: organization) && !subscription.wants(key, in: organization), "a tool filter drops events about other tools and about no tool")
        subscription.tools = ["host.load"]
        #expect(subscription.wants(refusal, in: organization))
        subscription.minimumRisk = .high
        #expect(!subscription.wants(refusal, in: organization), "a refusal has no known risk: not at least high")
        subscription.tools = nil
        subscription.minimumRisk = nil
        subscription.enabled = false
        #expect(!subscription.wants(key, in: organization))
    }

    /// The consumer, on a core without services: each committed event of the organization
    /// becomes one pending delivery (with its first attempt's job) per subscription that wants
    /// it, once, however often the consumer catches up.
    @Test func committedEventsBecomeOneDeliveryPerMatchingSubscriptionOnce() async throws {
        var options = WebhookOptions()
        options.allowedNetworks = [NetworkRange("127.0.0.0/8")!]
        var storage = KV.Environment.Options()
        storage.syncOnCommit = false
        let core = try await PortalCore(environment: try KV.Environment(directory: OutboxTests.directory(), options: storage),
                                        passwordHasher: PasswordHasher(iterations: 1_000), webhooks: options)
        _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
        let root = try #require(try core.accounts.user(named: "root"))
        let home = try #require(try core.organizations.organization(slug: "default"))
        let admin = Principal(user: root, organizationID: home.id, role: .admin, sessionKey: nil, csrfToken: nil)
        let other = try await core.organizations.create(slug: "other", displayName: "Other", by: admin)

        let consumer = core.webhooks.consumer(outbox: core.outbox)
        try await core.outbox.register(consumer.name)
        let keys = try await core.webhooks.create(.init(url: "http://127.0.0.1:9/keys", eventTypes: [.keyCreated]), by: admin).subscription
        let packs = try await core.webhooks.create(.init(url: "http://127.0.0.1:9/packs", eventTypes: [.packEnabled, .keyCreated], enabled: false), by: admin).subscription
        #expect(try core.webhooks.list(by: admin).map(\.id) == [keys.id, packs.id])
        #expect(throws: PortalError.self) { try core.webhooks.subscription(keys.id, by: Principal(user: root, organizationID: other.id, role: .admin, sessionKey: nil, csrfToken: nil)) }

        _ = try await core.apiKeys.create(by: admin, name: "ci", role: .operator, expiresAt: nil)
        _ = try await core.apiKeys.create(by: Principal(user: root, organizationID: other.id, role: .admin, sessionKey: nil, csrfToken: nil), name: "elsewhere", role: .viewer, expiresAt: nil)
        try await core.tools.setEnabled(true, pack: "host", by: admin)
        await consumer.catchUp()
        await consumer.catchUp()

        let delivered = try core.webhooks.deliveries(of: keys.id, by: admin)
        #expect(delivered.count == 1, "one key was created here; the other organization's is not ours")
        let delivery = try #require(delivered.first)
        #expect(delivery.eventType == "api-key.created" && delivery.state == .pending && delivery.messageID == "msg_\(delivery.id)")
        let body = try #require(JSONAny(json: Array(delivery.body.utf8)))
        #expect(body["type"] == .string("api-key.created") && body["organizationID"] == .string(home.id.uuidString))
        #expect(body["data"]?["kind"] == .string("api-key.created"), "the event's own payload")
        #expect(try core.webhooks.deliveries(of: packs.id, by: admin).isEmpty, "a disabled subscription gets nothing")
        // Saving other settings (no `enabled`) leaves it off; only turning it on does.
        let edited = try await core.webhooks.update(packs.id, .init(url: "http://127.0.0.1:9/packs", eventTypes: [.packEnabled], description: "edited"), by: admin)
        #expect(!edited.enabled && edited.description == "edited")
        #expect(try await core.webhooks.update(packs.id, .init(url: "http://127.0.0.1:9/packs", eventTypes: [.packEnabled], enabled: true), by: admin).enabled)
        #expect(try core.jobs.job(idempotencyKey: "webhook:\(delivery.id):1")?.kind == "webhook.deliver", "its first attempt is a durable job")
    }
}
