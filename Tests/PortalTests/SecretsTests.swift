import Foundation
import KV
import Testing
@testable import Portal

/// Secrets at rest: sealed with AES-256-GCM under a 0600 master key file; tampering, a wrong
/// name or a wrong key are detected; nothing is stored in clear.
@Suite struct SecretsTests {
    @Test func sealAndOpenRoundTripAndRejectEveryTamper() throws {
        let box = try SecretBox(key: Crypto.randomBytes(32))
        for value in ["", "x", "client-secret-0123456789", String(repeating: "é", count: 1000)] {
            let sealed = try box.seal(Array(value.utf8), name: "oidc.client_secret")
            #expect(sealed.count == 1 + 12 + value.utf8.count + 16)
            #expect(try box.open(sealed, name: "oidc.client_secret") == Array(value.utf8))
            for index in sealed.indices {
                var tampered = sealed
                tampered[index] ^= 0x01
                #expect(throws: SecretError.tampered) { try box.open(tampered, name: "oidc.client_secret") }
            }
            #expect(throws: SecretError.tampered) { try box.open(sealed, name: "another.secret") }
            #expect(throws: SecretError.tampered) { try SecretBox(key: Crypto.randomBytes(32)).open(sealed, name: "oidc.client_secret") }
            #expect(throws: SecretError.tampered) { try box.open(Array(sealed.prefix(20)), name: "oidc.client_secret") }
        }
        // A fresh nonce each time: the same secret never seals to the same bytes.
        #expect(try box.seal([1, 2, 3], name: "n") != box.seal([1, 2, 3], name: "n"))
        #expect(throws: SecretError.self) { try SecretBox(key: [1, 2, 3]) }
    }

    @Test func theMasterKeyFileIsCreatedPrivateAndReused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/master.key"
        let key = try MasterKey.loadOrCreate(at: path)
        #expect(key.count == 32)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try MasterKey.loadOrCreate(at: path) == key)
        chmod(path, 0o644)
        #expect(throws: SecretError.self) { try MasterKey.loadOrCreate(at: path) }
        chmod(path, 0o600)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect(throws: SecretError.self) { try MasterKey.loadOrCreate(at: path) }
    }

    @Test func storedSecretsAreNeverInClearAndSurviveARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-secrets-\(UUID().uuidString)").path
        let secret = "very-secret-client-credential-42"
        do {
            let environment = try KV.Environment(directory: directory)
            let core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
            #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"), "opening the portal creates no key")
            try await core.secrets.put("oidc.client_secret", secret)
            #expect(FileManager.default.fileExists(atPath: directory + "/master.key"))
            #expect(try core.secrets.get("oidc.client_secret") == secret)
            #expect(try core.secrets.get("missing") == nil)
            environment.close()
        }
        let file = try Data(contentsOf: URL(fileURLWithPath: directory + "/data.mdb"))
        #expect(file.range(of: Data(secret.utf8)) == nil, "the database holds no clear copy")
        let environment = try KV.Environment(directory: directory)
        let core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
        #expect(try core.secrets.get("oidc.client_secret") == secret)
        environment.close()
        // Without the key file (a restore that forgot it), reading says so instead of
        // silently making a new key.
        try FileManager.default.removeItem(atPath: directory + "/master.key")
        let bare = try KV.Environment(directory: directory)
        let reopened = try await PortalCore(environment: bare, passwordHasher: PasswordHasher(iterations: 1_000))
        #expect(throws: SecretError.self) { try reopened.secrets.get("oidc.client_secret") }
        #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"))
        bare.close()
    }
}
