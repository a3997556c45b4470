public import FoundationEssentials
public import KV

/// Where an organization wants some of its events posted, signed per Standard Webhooks 1.0.
/// The secret is never stored here (it is sealed in the secrets table under `secretName`).
public struct WebhookSubscription: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: UUID
    public let organizationID: UUID
    public var url: String
    /// The event types delivered (dotted names of `EventKind`); never empty.
    public var eventTypes: [EventKind]
    /// When set, only events about runs of these tools.
    public var tools: [String]?
    /// When set, only events about runs of at least this risk.
    public var minimumRisk: RiskLevel?
    public var description: String
    public var enabled: Bool
    /// Why the portal turned it off (410 Gone, a day of failures), if it did.
    public var disabledReason: String?
    /// The first failed attempt since the last success; `nil` while deliveries succeed.
    public var failingSince: Date?
    /// Until then deliveries are also signed with the secret replaced by the last rotation.
    public var previousSecretValidUntil: Date?
    public let createdBy: UUID
    public let createdAt: Date
    public var updatedAt: Date

    /// Whether `event` (recorded in `organizationID`) is one this subscription wants.
    public func wants(_ event: DomainEvent, in organizationID: UUID?) -> Bool {
        guard enabled, organizationID == self.organizationID, eventTypes.contains(event.kind) else { return false }
        if tools == nil && minimumRisk == nil { return true }
        guard let about = Self.runFacts(event) else { return false }
        if let tools, !tools.contains(about.tool) { return false }
        if let minimumRisk, let risk = about.risk, risk < minimumRisk { return false }
        if minimumRisk != nil && about.risk == nil { return false }
        return true
    }

    /// The tool (and, when known, the risk) an event is about.
    static func runFacts(_ event: DomainEvent) -> (tool: String, risk: RiskLevel?)? {
        if let run = event.run { return (run.tool, run.risk) }
        switch event {
        case let .runRefused(refusal): return (refusal.tool, nil)
        case let .approvalRefused(refusal): return (refusal.tool, nil)
        default: return nil
        }
    }

    static func secretName(_ id: UUID, previous: Bool = false) -> String { "webhook:\(id.uuidString):\(previous ? "previous" : "current")" }
}

/// One message to one subscription and every attempt to deliver it.
public struct WebhookDelivery: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Its next attempt is due (the first, or a retry after a failure).
        case pending
        case succeeded
        /// No attempt is left (the retry series ended, the subscription answered 410 or was
        /// disabled or deleted); a person may redeliver it.
        case abandoned
    }

    public struct Attempt: Codable, Sendable, Equatable {
        public let time: Date
        /// The HTTP status, when the receiver answered.
        public let status: Int?
        /// Why it failed without an answer (refused address, timeout, connection).
        public let error: String?
        public let durationMilliseconds: Double
        /// The first bytes of the answer's body (at most 1 KiB), as text.
        public let response: String
        public let manual: Bool
    }

    public var schemaVersion = 1
    public let id: TimeOrderedID
    public let subscriptionID: UUID
    public let organizationID: UUID
    /// `webhook-id`: the same for every attempt and redelivery, so receivers can deduplicate.
    public let messageID: String
    public let eventType: String
    /// The outbox sequence of the event; `nil` for a test ping.
    public let eventSequence: UInt64?
    /// The JSON body, exactly as signed and sent.
    public let body: String
    public var state: State
    public var attempts: [Attempt]
    public var nextAttemptAt: Date?
    public let createdAt: Date
}

/// Standard Webhooks 1.0 signatures: `whsec_` + base64 secrets, `v1,` + base64 of
/// HMAC-SHA256 over `id.timestamp.body`.
public enum WebhookSignature {
    public static let secretPrefix = "whsec_"

    /// A new secret: 32 random bytes.
    public static func newSecret() -> String { secretPrefix + Data(Crypto.randomBytes(32)).base64EncodedString() }

    /// The key bytes of a `whsec_` secret; `nil` when it is not one.
    public static func key(of secret: String) -> [UInt8]? {
        guard secret.hasPrefix(secretPrefix), let data = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))), !data.isEmpty else { return nil }
        return Array(data)
    }

    /// `v1,<base64 signature>` of the message under `secret`.
    public static func sign(id: String, timestamp: Int, body: String, secret: String) -> String? {
        guard let key = key(of: secret) else { return nil }
        return "v1," + Data(signature(id: id, timestamp: timestamp, body: Array(body.utf8), key: key)).base64EncodedString()
    }

    /// HMAC-SHA256 of `id.timestamp.body` under `key`: what `sign` encodes and `verify` compares.
    static func signature(id: String, timestamp: Int, body: [UInt8], key: [UInt8]) -> [UInt8] {
        Crypto.hmacSHA256(key: key, Array("\(id).\(timestamp).".utf8) + body)
    }

    /// Whether `header` (space-separated `v1,<base64>` signatures, others ignored) holds the
    /// signature of the message under `secret`, compared in constant time.
    public static func verify(id: String, timestamp: Int, body: [UInt8], header: String, secret: String) -> Bool {
        guard let key = key(of: secret) else { return false }
        let expected = signature(id: id, timestamp: timestamp, body: body, key: key)
        var matched = false
        for candidate in header.split(separator: " ") where candidate.hasPrefix("v1,") {
            guard let given = Data(base64Encoded: String(candidate.dropFirst(3))) else { continue }
            if Crypto.constantTimeEqual(Array(given), expected) { matched = true }
        }
        return matched
    }

    /// The `webhook-signature` header: one signature per secret, space-separated.
    public static func header(id: String, timestamp: Int, body: String, secrets: [String]) -> String {
        secrets.compactMap { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }
}
