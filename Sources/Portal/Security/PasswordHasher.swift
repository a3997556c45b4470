import FoundationEssentials

/// Hashes and verifies passwords with salted PBKDF2-HMAC-SHA256.
///
/// The stored form names its algorithm and cost (`pbkdf2-sha256$600000$<salt>$<hash>`, base64),
/// so the cost can be raised later and old hashes still verify. 600,000 iterations is OWASP's
/// 2023 recommendation for PBKDF2-HMAC-SHA256.
public struct PasswordHasher: Sendable {
    public let iterations: Int

    public init(iterations: Int = 600_000) {
        self.iterations = iterations
    }

    public func hash(_ password: String) -> String {
        let salt = Crypto.randomBytes(16)
        let derived = Crypto.pbkdf2SHA256(password: password, salt: salt, iterations: iterations, length: 32)
        return "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(derived).base64EncodedString())"
    }

    /// Whether `password` matches `stored`. A malformed `stored` value never matches.
    public func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256",
              let iterations = Int(parts[1]), (1...10_000_000).contains(iterations),
              let salt = Data(base64Encoded: String(parts[2])),
              let expected = Data(base64Encoded: String(parts[3])), !expected.isEmpty
        else { return false }
        let derived = Crypto.pbkdf2SHA256(password: password, salt: Array(salt), iterations: iterations, length: expected.count)
        return Crypto.constantTimeEqual(derived, Array(expected))
    }
}
