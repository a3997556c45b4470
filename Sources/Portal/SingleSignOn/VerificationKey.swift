import CCrypto
import FoundationEssentials

/// A public key from a JWKS (RFC 7517), held as a libcrypto `EVP_PKEY`: RSA (at least 2048
/// bits) for RS256, or an EC P-256 point for ES256. Guarantees: a key that libcrypto would not
/// accept as a valid public key (a point off the curve, a short modulus) is never built.
///
/// `@unchecked Sendable`: the `EVP_PKEY` is never mutated after import, and libcrypto allows
/// concurrent verification with one key from separate digest contexts (one per call here).
public final class VerificationKey: @unchecked Sendable {
    public let keyID: String?
    /// The JWS algorithm this key verifies: `RS256` or `ES256`.
    public let algorithm: String
    private let key: OpaquePointer

    /// The JWK's members this type reads.
    public struct JWK: Codable, Sendable {
        public var kty: String
        public var kid: String?
        public var use: String?
        public var alg: String?
        public var n: String?
        public var e: String?
        public var crv: String?
        public var x: String?
        public var y: String?
    }

    public init(jwk: JWK) throws(TokenError) {
        keyID = jwk.kid
        switch jwk.kty {
        case "RSA":
            guard jwk.alg == nil || jwk.alg == "RS256" else { throw .unsupportedAlgorithm(jwk.alg!) }
            guard let n = jwk.n.flatMap({ [UInt8](base64URL: $0) }), let e = jwk.e.flatMap({ [UInt8](base64URL: $0) }), !e.isEmpty else {
                throw .malformed("an RSA JWK needs n and e")
            }
            guard n.drop(while: { $0 == 0 }).count * 8 >= 2048 else { throw .malformed("RSA keys shorter than 2048 bits are refused") }
            algorithm = "RS256"
            key = try Self.checked("RSA", portal_rsa_public_key(n, n.count, e, e.count))
        case "EC":
            guard jwk.alg == nil || jwk.alg == "ES256" else { throw .unsupportedAlgorithm(jwk.alg!) }
            guard jwk.crv == "P-256" else { throw .malformed("only the P-256 curve is supported for EC keys") }
            guard let x = jwk.x.flatMap({ [UInt8](base64URL: $0) }), let y = jwk.y.flatMap({ [UInt8](base64URL: $0) }), x.count == 32, y.count == 32 else {
                throw .malformed("a P-256 JWK needs 32-byte x and y")
            }
            algorithm = "ES256"
            let point = [0x04] + x + y
            key = try Self.checked("EC", portal_p256_public_key(point, point.count))
        default:
            throw .malformed("unsupported key type \(jwk.kty)")
        }
    }

    deinit { EVP_PKEY_free(key) }

    /// The imported key, once libcrypto's public-key check accepts it.
    private static func checked(_ type: String, _ imported: OpaquePointer?) throws(TokenError) -> OpaquePointer {
        defer { ERR_clear_error() }
        guard let key = imported else { throw .malformed("libcrypto refused the \(type) public key") }
        guard let check = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { EVP_PKEY_free(key); throw .malformed("out of memory") }
        defer { EVP_PKEY_CTX_free(check) }
        guard EVP_PKEY_public_check(check) == 1 else { EVP_PKEY_free(key); throw .malformed("the \(type) public key is not valid") }
        return key
    }

    /// Verifies a JWS signature over `message` with SHA-256: PKCS #1 v1.5 for RSA; for EC the
    /// JWS form (r ‖ s, 32 bytes each) converted to the DER that libcrypto checks.
    func verify(signature: [UInt8], of message: [UInt8]) -> Bool {
        defer { ERR_clear_error() }
        let der: [UInt8]
        if algorithm == "ES256" {
            guard signature.count == 64, let encoded = Self.derECDSASignature(signature) else { return false }
            der = encoded
        } else {
            der = signature
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        return EVP_DigestVerify(context, der, der.count, message, message.count) == 1
    }

    private static func derECDSASignature(_ rs: [UInt8]) -> [UInt8]? {
        guard let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = BN_bin2bn(rs, 32, nil)
        let s = rs.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(signature, r, s) == 1 else { BN_free(r); BN_free(s); return nil }
        var output: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &output)
        guard length > 0, let output else { return nil }
        defer { CRYPTO_free(output, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }
}
