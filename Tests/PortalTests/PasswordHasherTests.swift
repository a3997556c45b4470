import Testing
@testable import Portal

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher(iterations: 1_000)

    @Test func verifiesTheRightPasswordOnly() {
        let stored = hasher.hash("correct horse battery staple")
        #expect(stored.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(!stored.contains("correct"))
        #expect(hasher.verify("correct horse battery staple", against: stored))
        #expect(!hasher.verify("correct horse battery stapl", against: stored))
        #expect(!hasher.verify("", against: stored))
    }

    @Test func saltsMakeEqualPasswordsHashDifferently() {
        #expect(hasher.hash("same") != hasher.hash("same"))
    }

    @Test func theStoredCostIsHonoured() {
        let stored = PasswordHasher(iterations: 2_000).hash("pw")
        #expect(hasher.verify("pw", against: stored))
    }

    @Test(arguments: ["", "plain", "pbkdf2-sha256$x$AA==$AA==", "pbkdf2-sha256$1000$!!$AA==", "md5$1$AA==$AA==",
                      "pbkdf2-sha256$0$AA==$AA==", "pbkdf2-sha256$1000$AA==$"])
    func malformedHashesNeverMatch(stored: String) {
        #expect(!hasher.verify("pw", against: stored))
    }

    @Test func knownAnswer() {
        // RFC 7914 section 11 test vector for PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, dkLen=64), first 32 bytes.
        let derived = Crypto.pbkdf2SHA256(password: "passwd", salt: Array("salt".utf8), iterations: 1, length: 32)
        #expect(derived.hexString == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
    }
}
