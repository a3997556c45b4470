#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// A safetensors file mapped read-only into memory: an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw data. Guarantees:
/// every tensor handed out lies inside the file, has the size its shape says, and is 4-byte
/// aligned; the file is read by the kernel's page cache, never copied, and unmapped when the
/// last reference goes.
public final class SafetensorsFile: @unchecked Sendable {
    public struct Tensor: Sendable {
        public let dtype: String
        public let shape: [Int]
        let offset: Int
        let byteCount: Int
    }

    public let path: String
    public let tensors: [String: Tensor]
    private let base: UnsafeRawPointer
    private let size: Int
    private let dataStart: Int

    private struct HeaderEntry: Decodable {
        let dtype: String?
        let shape: [Int]?
        let data_offsets: [Int]?
    }

    public init(path: String) throws(EncoderError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .weights(path, "cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .weights(path, "cannot be read") }
        size = Int(status.st_size)
        guard size >= 8 else { throw .weights(path, "is \(size) bytes: not a safetensors file") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw .weights(path, "cannot be mapped (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(mapped)
        do throws(EncoderError) {
            let headerLength = Int(UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)))
            guard headerLength > 1, headerLength <= min(size - 8, 100 << 20) else { throw .weights(path, "has a header length of \(headerLength) bytes: not a safetensors file") }
            dataStart = 8 + headerLength
            let header = Data(bytes: base + 8, count: headerLength)
            guard let entries = try? JSONDecoder().decode([String: HeaderEntry].self, from: header) else {
                throw .weights(path, "has a header that is not safetensors JSON")
            }
            var tensors: [String: Tensor] = [:]
            for (name, entry) in entries where name != "__metadata__" {
                guard let dtype = entry.dtype, let shape = entry.shape, let offsets = entry.data_offsets, offsets.count == 2, shape.allSatisfy({ $0 >= 0 }) else {
                    throw .weights(path, "describes tensor \(name) without dtype, shape and data_offsets")
                }
                let begin = offsets[0], end = offsets[1]
                guard begin >= 0, begin <= end, end <= size - dataStart else { throw .weights(path, "puts tensor \(name) outside the file (truncated?)") }
                tensors[name] = Tensor(dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
            }
            self.tensors = tensors
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
    }

    /// Drops the file's pages from this process's resident memory; a later read maps them in
    /// again from the page cache (the mapping is read-only, so nothing is lost).
    public func releaseResidentPages() {
        madvise(UnsafeMutableRawPointer(mutating: base), size, MADV_DONTNEED)
    }

    /// The float32 tensor `name` of exactly `shape`.
    public func float32(_ name: String, shape: [Int]) throws(EncoderError) -> UnsafeBufferPointer<Float> {
        guard let tensor = tensors[name] else { throw .weights(path, "has no tensor \(name)") }
        guard tensor.dtype == "F32", tensor.shape == shape else {
            throw .weights(path, "has \(name) as \(tensor.dtype) \(tensor.shape), expected F32 \(shape)")
        }
        let count = shape.reduce(1, *)
        guard tensor.byteCount == count * 4 else { throw .weights(path, "has \(tensor.byteCount) bytes for \(name), expected \(count * 4)") }
        guard tensor.offset % 4 == 0 else { throw .weights(path, "has \(name) at an unaligned offset") }
        return UnsafeBufferPointer(start: (base + tensor.offset).assumingMemoryBound(to: Float.self), count: count)
    }
}
