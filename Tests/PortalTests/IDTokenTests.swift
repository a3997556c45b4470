import Foundation
import Testing
@testable import Portal

/// ID-token verification against keys and tokens made by an independent signer (Python's
/// `cryptography`, see scripts/make-jwt-fixtures.py): RS256 and ES256 verify, and any change
/// to a token, a key of the wrong kind, or a refused algorithm does not. The end-to-end flow
/// against a loopback identity provider is Tests/Browser/test_sso.py.
@Suite struct IDTokenTests {
    func key(_ json: String) throws -> VerificationKey {
        try VerificationKey(jwk: JSONDecoder().decode(VerificationKey.JWK.self, from: Data(json.utf8)))
    }

    @Test func tokensFromAnIndependentSignerVerify() throws {
        let rsa = try key(JWTFixtures.rsaJWK), ec = try key(JWTFixtures.ecJWK)
        let rs256 = try JSONWebToken(compact: JWTFixtures.rs256Token), es256 = try JSONWebToken(compact: JWTFixtures.es256Token)
        #expect(rs256.algorithm == "RS256" && rs256.keyID == "rsa-1")
        #expect(es256.algorithm == "ES256" && es256.keyID == "ec-1")
        #expect(rs256.claims["sub"] == .string("user-1"))
        #expect(rs256.isSigned(by: rsa))
        #expect(es256.isSigned(by: ec))
        // A key of the other kind never verifies, whatever the token claims.
        #expect(!rs256.isSigned(by: ec))
        #expect(!es256.isSigned(by: rsa))
    }

    @Test(arguments: [JWTFixtures.rs256Token, JWTFixtures.es256Token])
    func everyChangedByteOfPayloadOrSignatureFailsVerification(_ compact: String) throws {
        let keys = [try key(JWTFixtures.rsaJWK), try key(JWTFixtures.ecJWK)]
        let parts = compact.split(separator: ".").map(String.init)
        let payload = [UInt8](base64URL: parts[1])!, signature = [UInt8](base64URL: parts[2])!
        for index in payload.indices {
            var changed = payload
            changed[index] ^= 0x20
            let token = try? JSONWebToken(compact: [parts[0], changed.base64URL, parts[2]].joined(separator: "."))
            #expect(!keys.contains { token?.isSigned(by: $0) == true }, "payload byte \(index)")
        }
        for index in stride(from: 0, to: signature.count, by: 7) {
            var changed = signature
            changed[index] ^= 0x01
            let token = try JSONWebToken(compact: [parts[0], parts[1], changed.base64URL].joined(separator: "."))
            #expect(!keys.contains { token.isSigned(by: $0) }, "signature byte \(index)")
        }
        // Truncated or extended signatures.
        for wrongLength in [Array(signature.dropLast()), signature + [0]] {
            let token = try JSONWebToken(compact: [parts[0], parts[1], wrongLength.base64URL].joined(separator: "."))
            #expect(!keys.contains { token.isSigned(by: $0) })
        }
    }

    @Test func refusedAlgorithmsAndMalformedTokensAreTypedErrors() throws {
        let claims = Array(#"{"sub":"x"}"#.utf8).base64URL
        func header(_ json: String) -> String { Array(json.utf8).base64URL }
        #expect(throws: TokenError.unsupportedAlgorithm("none")) { try JSONWebToken(compact: header(#"{"alg":"none"}"#) + "." + claims + ".") }
        #expect(throws: TokenError.unsupportedAlgorithm("HS256")) { try JSONWebToken(compact: header(#"{"alg":"HS256"}"#) + "." + claims + ".AAAA") }
        #expect(throws: TokenError.malformed("critical header extensions are not supported")) {
            try JSONWebToken(compact: header(#"{"alg":"RS256","crit":["exp"]}"#) + "." + claims + ".AAAA")
        }
        for malformed in ["", "a.b", "a.b.c.d", "!!!." + claims + ".AAAA", header("[1]") + "." + claims + ".AAAA", header(#"{"alg":"RS256"}"#) + "." + header("[]") + ".AAAA"] {
            #expect(throws: TokenError.self) { try JSONWebToken(compact: malformed) }
        }
    }

    @Test func weakOrInvalidKeysAreRefused() throws {
        #expect(throws: TokenError.malformed("RSA keys shorter than 2048 bits are refused")) { try key(JWTFixtures.shortRSAJWK) }
        #expect(throws: TokenError.self) { try key(JWTFixtures.offCurveECJWK) }
        #expect(throws: TokenError.self) { try key(#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#) }
        #expect(throws: TokenError.self) { try key(#"{"kty":"oct","k":"c2VjcmV0"}"#) }
        #expect(throws: TokenError.unsupportedAlgorithm("RS512")) {
            var jwk = try JSONDecoder().decode(VerificationKey.JWK.self, from: Data(JWTFixtures.rsaJWK.utf8))
            jwk.alg = "RS512"
            return try VerificationKey(jwk: jwk)
        }
    }

    /// OpenID Connect Core §3.1.3.7, one failing check at a time.
    @Test func claimChecksRefuseEachViolation() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let valid: [String: JSONAny] = [
            "iss": .string("https://idp.example.com"), "aud": .string("portal"), "sub": .string("u1"),
            "exp": .number(1_800_000_300), "iat": .number(1_799_999_990), "nonce": .string("abc"),
        ]
        func check(_ claims: [String: JSONAny]) throws(TokenError) {
            try OpenIDProvider.checkClaims(claims, issuer: "https://idp.example.com", clientID: "portal", nonce: "abc", now: now)
        }
        try check(valid)
        var listAudience = valid
        listAudience["aud"] = .array([.string("portal")])
        try check(listAudience)
        listAudience["aud"] = .array([.string("portal"), .string("other")])
        listAudience["azp"] = .string("portal")
        try check(listAudience)
        var withinSkew = valid
        withinSkew["exp"] = .number(1_799_999_950)
        try check(withinSkew)

        let violations: [(String, JSONAny?)] = [
            ("iss", .string("https://idp.example.com/")), ("iss", nil),
            ("aud", .string("other")), ("aud", .array([.string("other")])), ("aud", .number(1)), ("aud", nil),
            ("azp", .string("other")),
            ("exp", .number(1_799_999_900)), ("exp", nil), ("exp", .string("2030")),
            ("iat", .number(1_800_000_100)), ("iat", nil),
            ("nbf", .number(1_800_000_100)),
            ("nonce", .string("abd")), ("nonce", nil),
            ("sub", .string("")), ("sub", nil), ("sub", .string(String(repeating: "s", count: 256))),
        ]
        for (claim, value) in violations {
            var claims = valid
            claims[claim] = value
            #expect(throws: TokenError.self, "\(claim) = \(String(describing: value))") { try check(claims) }
        }
        var severalAudiencesNoParty = valid
        severalAudiencesNoParty["aud"] = .array([.string("portal"), .string("other")])
        #expect(throws: TokenError.claim("several audiences and no azp")) { try check(severalAudiencesNoParty) }
    }

    @Test func base64URLDecodingInvertsEncoding() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<80 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect([UInt8](base64URL: bytes.base64URL) == bytes)
        }
        #expect([UInt8](base64URL: "AQAB") == [1, 0, 1])
        #expect([UInt8](base64URL: "AQ==") == [1])
        #expect([UInt8](base64URL: "A") == nil)
        #expect([UInt8](base64URL: "AQ+B") == nil)
    }

    @Test func usernamesFromClaimsAreValidLocalNames() {
        #expect(SingleSignOn.username(from: "Alice.Smith@Example.com") == "alice.smith-example.com")
        #expect(SingleSignOn.username(from: "Zoë O'Brien") == "zo--o-brien")
        #expect(SingleSignOn.username(from: "") == "user")
        #expect(SingleSignOn.username(from: String(repeating: "a", count: 100)).count == 64)
    }

    @Test func returnPathsMustStayOnThePortal() {
        for local in ["/", "/#/users", "/tools?x=1"] { #expect(SingleSignOn.isLocalPath(local), "\(local)") }
        for foreign in ["https://evil.example/", "//evil.example/", "/\\evil.example", "", "users", "/a b", "/\u{7F}"] {
            #expect(!SingleSignOn.isLocalPath(foreign), "\(foreign)")
        }
    }
}
