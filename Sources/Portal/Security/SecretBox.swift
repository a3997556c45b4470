import CCrypto
import FoundationEssentials
import Glibc
import Synchronization
import KV

/// Authenticated encryption of secrets at rest (OIDC client secrets, tool credentials):
/// AES-256-GCM under the portal's master key, with a fresh 96-bit nonce per seal and the
/// secret's name as associated data, so a sealed value cannot be moved to another name.
///
/// Sealed layout: `version (1) | nonce (12) | ciphertext | tag (16)`.
public struct SecretBox: Sendable {
    static let version: UInt8 = 1
    private let key: [UInt8]

    /// Fails unless `key` is 32 bytes.
    public init(key: [UInt8]) throws(SecretError) {
        guard key.count == 32 else { throw .badKey("the master key must be 32 bytes, not \(key.count)") }
        self.key = key
    }

    public func seal(_ plaintext: [UInt8], name: String) throws(SecretError) -> [UInt8] {
        let nonce = Crypto.randomBytes(12)
        let aad = Array(name.utf8)
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        var tag = [UInt8](repeating: 0, count: 16)
        guard let context = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        // GCM is a stream mode: the final call writes nothing; it gets a scratch buffer.
        var scratch = [UInt8](repeating: 0, count: 16)
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1,
              aad.isEmpty || EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
              plaintext.isEmpty || EVP_EncryptUpdate(context, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1,
              EVP_EncryptFinal_ex(context, &scratch, &length) == 1, length == 0,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, &tag) == 1
        else { throw .crypto("AES-256-GCM seal") }
        return [Self.version] + nonce + ciphertext + tag
    }

    /// The plaintext, or `SecretError.tampered` when the value, its name or the key differ
    /// from those it was sealed with.
    public func open(_ sealed: [UInt8], name: String) throws(SecretError) -> [UInt8] {
        guard sealed.count >= 1 + 12 + 16, sealed[0] == Self.version else { throw .tampered }
        let nonce = Array(sealed[1..<13])
        let ciphertext = Array(sealed[13..<(sealed.count - 16)])
        var tag = Array(sealed[(sealed.count - 16)...])
        let aad = Array(name.utf8)
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        guard let context = EVP_CIPHER_CTX_new() else { throw .crypto("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1,
              aad.isEmpty || EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
              ciphertext.isEmpty || EVP_DecryptUpdate(context, &plaintext, &length, ciphertext, Int32(ciphertext.count)) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, &tag) == 1
        else { throw .crypto("AES-256-GCM open") }
        var finalLength: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        guard EVP_DecryptFinal_ex(context, &scratch, &finalLength) == 1 else { throw .tampered }
        return plaintext
    }
}

/// Why a secret could not be kept or read.
public enum SecretError: Error, Equatable, Sendable {
    case badKey(String)
    case crypto(String)
    case tampered
    case keyFile(String)
}

/// The master key file: 32 random bytes, created with mode 0600 beside the data when the
/// first secret is stored, and never written again. It is not part of `data.mdb`, so a copy of the database
/// alone (or a backup) does not reveal the secrets; back the key file up separately.
public enum MasterKey {
    public static let fileName = "master.key"

    /// Reads the key at `path`, creating it (exclusively, 0600) when absent. Refuses a key
    /// file of the wrong size, or one that others can read.
    public static func loadOrCreate(at path: String) throws(SecretError) -> [UInt8] {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            let key = Crypto.randomBytes(32)
            let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, 32) }
            let synced = fsync(descriptor)
            close(descriptor)
            guard written == 32, synced == 0 else { throw .keyFile("\(path): cannot write the new master key") }
            return key
        }
        guard errno == EEXIST else { throw .keyFile("\(path): cannot create: \(String(cString: strerror(errno)))") }
        return try load(at: path)!
    }

    /// Reads the key at `path`, or `nil` when there is none yet. Same refusals as above.
    public static func load(at path: String) throws(SecretError) -> [UInt8]? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw .keyFile("\(path): cannot stat")
        }
        guard info.st_mode & 0o077 == 0 else { throw .keyFile("\(path): readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it") }
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { throw .keyFile("\(path): cannot open") }
        defer { close(reader) }
        var key = [UInt8](repeating: 0, count: 33)
        let count = key.withUnsafeMutableBytes { read(reader, $0.baseAddress, 33) }
        guard count == 32 else { throw .keyFile("\(path): a master key is 32 bytes, this file has \(max(count, 0))") }
        return Array(key.prefix(32))
    }
}

/// Named secrets in KV, each sealed by `SecretBox`. The master key is read (or, for the
/// first secret, created) when a secret is first used, so opening the portal, `portal check`
/// and `portal restore` never create one.
public final class Secrets: Sendable {
    let environment: Environment
    let table: Table<StringKey, RawBytes>
    let keyPath: String
    private let cached = Mutex<SecretBox?>(nil)

    init(environment: Environment) throws {
        self.environment = environment
        keyPath = environment.path + "/" + MasterKey.fileName
        table = try environment.table("secrets", key: StringKey.self, value: RawBytes.self)
    }

    /// The box under the master key; `create` makes the key file when there is none.
    private func box(create: Bool) throws -> SecretBox {
        try cached.withLock { (cached) throws in
            if let cached { return cached }
            guard let key = create ? try MasterKey.loadOrCreate(at: keyPath) : try MasterKey.load(at: keyPath) else {
                throw SecretError.keyFile("\(keyPath) is missing: sealed secrets cannot be read without the master key they were sealed with")
            }
            let box = try SecretBox(key: key)
            cached = box
            return box
        }
    }

    /// A key for `purpose` derived from the master key (HMAC-SHA256 of the purpose), created
    /// with the master key when `create` is set. Used where the portal must prove that it
    /// wrote something (the audit chain) without storing that key in the database.
    public func derivedKey(purpose: String, create: Bool) throws -> [UInt8] {
        let key = create ? try MasterKey.loadOrCreate(at: keyPath) : try MasterKey.load(at: keyPath)
        guard let key else { throw SecretError.keyFile("\(keyPath) is missing: the audit trail cannot be verified without the master key") }
        return Crypto.hmacSHA256(key: key, Array(purpose.utf8))
    }

    public func put(_ name: String, _ value: String) async throws {
        let sealed = try seal(name, value)
        try await environment.write { [table] txn in try txn.put(table, name, sealed) }
    }

    /// `value` sealed for the secret `name`, to store with `txn.put(table, name, …)` in a
    /// transaction of the caller's (with the change's audit entry).
    func seal(_ name: String, _ value: String) throws -> [UInt8] {
        try box(create: true).seal(Array(value.utf8), name: name)
    }

    /// Removes the secret (idempotent).
    public func delete(_ name: String) async throws {
        try await environment.write { [table] txn in _ = try txn.delete(table, name) }
    }

    /// A settings form's write-only secret: `nil` keeps the stored one, `""` removes it, any
    /// other value (at most `maximumLength` characters, else `PortalError.invalid` naming
    /// `field`) replaces it.
    func update(_ name: String, to value: String?, field: String, maximumLength: Int) async throws {
        guard let value else { return }
        guard value.count <= maximumLength else { throw PortalError.invalid("\(field) is at most \(maximumLength) characters") }
        if value.isEmpty { try await delete(name) } else { try await put(name, value) }
    }

    /// The secret's value, `nil` when none is stored, or `SecretError.tampered`.
    public func get(_ name: String) throws -> String? {
        guard let sealed = try environment.read({ txn in try txn.get(table, name) }) else { return nil }
        return try open(sealed, name: name)
    }

    /// The value of `sealed`, read from `table` under `name` in a transaction of the caller's.
    func open(_ sealed: [UInt8], name: String) throws -> String {
        String(decoding: try box(create: false).open(sealed, name: name), as: UTF8.self)
    }
}
