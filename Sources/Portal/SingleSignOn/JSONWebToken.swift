import FoundationEssentials

/// A compact JWS (RFC 7515) split into its parts. Parsing checks the shape only; `verify`
/// checks the signature. Guarantees: only RS256 and ES256 are accepted (never `none`, never
/// an HMAC algorithm that a public key could be confused with), and a header naming
/// critical extensions is refused, since none are understood.
public struct JSONWebToken: Sendable {
    public let algorithm: String
    public let keyID: String?
    public let claims: [String: JSONAny]
    let signingInput: [UInt8]
    let signature: [UInt8]

    public static let supportedAlgorithms = ["RS256", "ES256"]

    public init(compact: String) throws(TokenError) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("a JWS has three dot-separated parts") }
        guard compact.utf8.count <= 64 * 1024 else { throw .malformed("the token is larger than 64 KiB") }
        guard let headerBytes = [UInt8](base64URL: parts[0]), let claimBytes = [UInt8](base64URL: parts[1]),
              let signature = [UInt8](base64URL: parts[2])
        else { throw .malformed("a part is not base64url") }
        struct Header: Decodable {
            let alg: String
            let kid: String?
            let crit: [String]?
        }
        let decoder = JSONDecoder()
        guard let header = try? decoder.decode(Header.self, from: Data(headerBytes)) else { throw .malformed("the header is not a JSON object with alg") }
        guard header.crit == nil else { throw .malformed("critical header extensions are not supported") }
        guard Self.supportedAlgorithms.contains(header.alg) else { throw .unsupportedAlgorithm(header.alg) }
        guard let claims = try? decoder.decode([String: JSONAny].self, from: Data(claimBytes)) else { throw .malformed("the payload is not a JSON object") }
        algorithm = header.alg
        keyID = header.kid
        self.claims = claims
        signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        self.signature = signature
    }

    /// Whether `key` signed this token with the token's algorithm. A key of another type, or
    /// one whose JWK names another algorithm, never verifies.
    public func isSigned(by key: VerificationKey) -> Bool {
        guard key.algorithm == algorithm else { return false }
        return key.verify(signature: signature, of: signingInput)
    }
}

/// Why a token was refused. The message names the check that failed, never the token.
public enum TokenError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
    case unknownKey(String?)
    case claim(String)

    public var description: String {
        switch self {
        case let .malformed(reason): "malformed ID token: \(reason)"
        case let .unsupportedAlgorithm(algorithm): "ID token algorithm \(algorithm) is not accepted (RS256 or ES256)"
        case .badSignature: "the ID token signature does not verify"
        case let .unknownKey(kid): "no key in the provider's JWKS matches the ID token (kid \(kid ?? "none"))"
        case let .claim(reason): "ID token rejected: \(reason)"
        }
    }
}
