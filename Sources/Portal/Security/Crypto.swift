import CCrypto
import KV

/// Hashing and randomness from libcrypto. Every secret the portal derives or compares goes
/// through here, so there is one implementation to review.
public enum Crypto {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        SHA256.hash(Array(bytes))
    }

    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let result = key.withUnsafeBufferPointer { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count), messageBuffer.baseAddress, messageBuffer.count, &output, &length)
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed")
        return output
    }

    /// `count` bytes from libcrypto's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        // RAND_bytes fails only when the OS entropy source is unavailable; continuing would
        // hand out predictable secrets.
        precondition(status == 1, "RAND_bytes failed: no entropy source")
        return bytes
    }

    /// PBKDF2-HMAC-SHA256.
    public static func pbkdf2SHA256(password: String, salt: [UInt8], iterations: Int, length: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        let passwordBytes = Array(password.utf8)
        let status = passwordBytes.withUnsafeBufferPointer { passwordBuffer in
            salt.withUnsafeBufferPointer { saltBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    passwordBuffer.withMemoryRebound(to: CChar.self) { passwordChars in
                        PKCS5_PBKDF2_HMAC(
                            passwordChars.baseAddress, Int32(passwordChars.count),
                            saltBuffer.baseAddress, Int32(saltBuffer.count),
                            Int32(iterations), EVP_sha256(),
                            Int32(length), outputBuffer.baseAddress
                        )
                    }
                }
            }
        }
        precondition(status == 1, "PKCS5_PBKDF2_HMAC failed")
        return output
    }

    /// Compares in time independent of where the inputs differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 } }
    }
}

extension Array where Element == UInt8 {
    /// Base64url without padding (RFC 4648 §5), for tokens in cookies and headers.
    public var base64URL: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out = [UInt8]()
        out.reserveCapacity((count * 4 + 2) / 3)
        var index = 0
        while index < count {
            let chunk = (UInt32(self[index]) << 16) | (index + 1 < count ? UInt32(self[index + 1]) << 8 : 0) | (index + 2 < count ? UInt32(self[index + 2]) : 0)
            let emitted = Swift.min(4, (count - index) * 4 / 3 + ((count - index) % 3 == 0 ? 0 : 1))
            for position in 0..<emitted { out.append(alphabet[Int((chunk >> (18 - 6 * UInt32(position))) & 0x3F)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url, with or without padding; `nil` for any character outside the
    /// alphabet or an impossible length.
    public init?(base64URL text: some StringProtocol) {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for character in text.utf8 {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(character - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(character - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            case UInt8(ascii: "="): continue
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let group = values[index..<Swift.min(index + 4, values.count)]
            var chunk: UInt32 = 0
            for (position, value) in group.enumerated() { chunk |= UInt32(value) << (18 - 6 * UInt32(position)) }
            for position in 0..<(group.count - 1) { bytes.append(UInt8((chunk >> (16 - 8 * UInt32(position))) & 0xFF)) }
            index += 4
        }
        self = bytes
    }

    /// Lower-case hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        chars.reserveCapacity(count * 2)
        for byte in self {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: chars, as: UTF8.self)
    }
}
