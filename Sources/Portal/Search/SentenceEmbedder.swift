import Dispatch
#if canImport(Glibc)
import Glibc
#endif
public import SentenceEncoder
import Synchronization

/// The built-in sentence model (all-MiniLM-L6-v2, in Swift: `SentenceEncoder`) as search's
/// embedder: 384 dimensions, no network. Encoding runs on Dispatch's threads, never on the
/// tasks' cooperative pool (a batch of 64 texts is a fraction of a second of CPU).
public struct SentenceEmbedder: Embedder {
    public static let model = "all-MiniLM-L6-v2"
    public static let identity = EmbedderIdentity(provider: "builtin", model: model, dimension: SentenceEncoder.dimensions)
    public var identity: EmbedderIdentity { Self.identity }
    let encoder: SentenceEncoder
    let threads: Int

    public init(encoder: SentenceEncoder, threads: Int = 2) {
        self.encoder = encoder
        self.threads = threads
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let encoder = encoder, threads = threads
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async { continuation.resume(returning: encoder.encode(texts, threads: threads)) }
        }
    }
}

/// Where the sentence model's files are, and the model loaded from them once (90 MB of
/// weights: every embedder of the process shares it). A load that fails is tried again at the
/// next call, so files restored while the portal runs are picked up.
public final class SentenceModel: Sendable {
    public let directory: String
    private let loaded = Mutex<SentenceEncoder?>(nil)

    public init(directory: String) {
        self.directory = directory
    }

    /// `PORTAL_MODEL_DIR`, the installed package's directory, or one beside the executable (a
    /// tarball's `lib/portal/models`, or `.build/models` for a build of this repository),
    /// whichever holds the weights first; with none, the first of them (so an error names
    /// where they belong).
    public static func defaultDirectory() -> String {
        let name = "all-MiniLM-L6-v2"
        var candidates: [String] = []
        if let configured = getenv("PORTAL_MODEL_DIR") { candidates.append(String(cString: configured)) }
        let installed = "/usr/lib/portal/models/" + name
        candidates.append(installed)
        if let executable = executableDirectory() {
            // A tarball's bin/portal; SwiftPM's .build/<triple>/<configuration>/portal.
            candidates += [executable + "/../lib/portal/models/" + name, executable + "/../../models/" + name]
        }
        return candidates.first { access($0 + "/model.safetensors", R_OK) == 0 } ?? candidates[0]
    }

    private static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    /// The model, loaded on first use. Throws `EncoderError` naming the file and how to
    /// restore it.
    public func encoder() throws(EncoderError) -> SentenceEncoder {
        if let encoder = loaded.withLock({ $0 }) { return encoder }
        let encoder = try SentenceEncoder(directory: directory)
        return loaded.withLock { current in
            if let current { return current }
            current = encoder
            return encoder
        }
    }
}
