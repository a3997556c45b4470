public import Foundation
import Crypto

/// Checks that a webhook request came from the portal, as Standard Webhooks 1.0 defines it:
/// `webhook-signature` holds one or more `v1,<base64 HMAC-SHA256>` of `id.timestamp.body`
/// under the subscription's `whsec_` secret, and `webhook-timestamp` is within `tolerance` of
/// now (so a captured request cannot be replayed later).
///
/// Guarantees: the signature is compared in constant time; any of the verifier's secrets may
/// match (give both while the portal rotates a secret); a body that differs by one byte, a
/// stale or future timestamp, or a missing header is refused with the reason.
public struct WebhookVerifier: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        /// A secret is not a `whsec_` secret.
        case malformedSecret
        /// A `webhook-…` header is missing or malformed.
        case missingHeader(String)
        /// `webhook-timestamp` is further from now than the tolerance.
        case timestampOutOfTolerance
        /// No signature matches the body under the verifier's secrets.
        case noMatchingSignature
    }

    private let keys: [[UInt8]]
    public let tolerance: Duration

    /// - Parameter secrets: the subscription's secrets as the portal showed them (`whsec_…`).
    public init(secrets: [String], tolerance: Duration = .seconds(300)) throws {
        keys = try secrets.map { secret in
            guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))), !key.isEmpty else {
                throw Failure.malformedSecret
            }
            return Array(key)
        }
        self.tolerance = tolerance
    }

    /// Verifies a request: `headers` as received (names in any case), `body` exactly as received.
    public func verify(body: some Collection<UInt8>, headers: [String: String], now: Date = Date()) throws {
        let lowered = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { first, _ in first }
        guard let id = lowered["webhook-id"], !id.isEmpty else { throw Failure.missingHeader("webhook-id") }
        guard let timestamp = lowered["webhook-timestamp"].flatMap(Int.init) else { throw Failure.missingHeader("webhook-timestamp") }
        guard let signatures = lowered["webhook-signature"], !signatures.isEmpty else { throw Failure.missingHeader("webhook-signature") }
        try verify(body: body, id: id, timestamp: timestamp, signatures: signatures, now: now)
    }

    /// Verifies the parts of a request.
    public func verify(body: some Collection<UInt8>, id: String, timestamp: Int, signatures: String, now: Date = Date()) throws {
        let skew = abs(now.timeIntervalSince1970 - Double(timestamp))
        guard skew <= Double(tolerance.components.seconds) else { throw Failure.timestampOutOfTolerance }
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        let expected = keys.map { key in Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))) }
        for signature in signatures.split(separator: " ") {
            guard signature.hasPrefix("v1,"), let given = Data(base64Encoded: String(signature.dropFirst(3))) else { continue }
            if expected.contains(where: { Self.constantTimeEqual($0, Array(given)) }) { return }
        }
        throw Failure.noMatchingSignature
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
