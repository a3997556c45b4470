import CZlib

/// gzip (RFC 1952) with zlib: one streaming implementation for backups (files of any size, in
/// 1 MiB chunks) and one-shot helpers for in-memory data (HTTP assets).
public enum Gzip {
    static let chunkSize = 1 << 20

    /// Compresses `input` into one gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = 9) throws(KVError) -> [UInt8] {
        var pending = [input]
        var output: [UInt8] = []
        try compress(level: level, read: { pending.popLast() ?? [] }, write: { output += $0 })
        return output
    }

    /// Decompresses one gzip member; refuses output larger than `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) throws(KVError) -> [UInt8] {
        var pending = [input]
        var output: [UInt8] = []
        try decompress(read: { pending.popLast() ?? [] }, write: { (chunk) throws(KVError) in
            output += chunk
            guard output.count <= limit else { throw .compression("decompressed size exceeds \(limit) bytes") }
        })
        return output
    }

    /// Streams `read`'s chunks (an empty chunk ends the input) through deflate into `write`.
    static func compress(
        level: Int32 = 6, read: () throws(KVError) -> [UInt8], write: ([UInt8]) throws(KVError) -> Void
    ) throws(KVError) {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .compression("deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        try pump(&stream, read: read, write: write) { (stream, inputEnded) throws(KVError) in
            let status = deflate(&stream, inputEnded ? Z_FINISH : Z_NO_FLUSH)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw .compression("deflate failed (zlib \(status))")
            }
            return status
        }
    }

    /// Streams `read`'s chunks (an empty chunk ends the input) through inflate into `write`;
    /// input that ends before the gzip member does is an error.
    static func decompress(read: () throws(KVError) -> [UInt8], write: ([UInt8]) throws(KVError) -> Void) throws(KVError) {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .compression("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        try pump(&stream, read: read, write: write) { (stream, inputEnded) throws(KVError) in
            guard !inputEnded else { throw .compression("the gzip data is truncated") }
            let status = inflate(&stream, Z_NO_FLUSH)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw .compression("not valid gzip data (zlib \(status))")
            }
            return status
        }
    }

    /// Feeds `read`'s chunks to `step` (deflate or inflate, told when the input has ended so
    /// it can finish or refuse an early end) and hands every output chunk to `write`, until the
    /// stream ends.
    private static func pump(
        _ stream: inout z_stream, read: () throws(KVError) -> [UInt8], write: ([UInt8]) throws(KVError) -> Void,
        step: (inout z_stream, _ inputEnded: Bool) throws(KVError) -> Int32
    ) throws(KVError) {
        var output = [UInt8](repeating: 0, count: chunkSize)
        var status: Int32 = Z_OK
        while status != Z_STREAM_END {
            var input = try read()
            let inputEnded = input.isEmpty
            try input.withUnsafeMutableBufferPointer { (inputBuffer) throws(KVError) in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = UInt32(inputBuffer.count)
                repeat {
                    var failure: KVError?
                    let produced = output.withUnsafeMutableBufferPointer { outputBuffer in
                        stream.next_out = outputBuffer.baseAddress
                        stream.avail_out = UInt32(outputBuffer.count)
                        do throws(KVError) { status = try step(&stream, inputEnded) } catch { failure = error }
                        return outputBuffer.count - Int(stream.avail_out)
                    }
                    if let failure { throw failure }
                    if produced > 0 { try write(Array(output[..<produced])) }
                } while stream.avail_out == 0 && status != Z_STREAM_END
            }
        }
    }
}
