import Dispatch
#if canImport(Glibc)
import Glibc
#endif
public import SentenceEncoder
import Synchronization

/// The built-in sentence model (all-MiniLM-L6-v2, in Swift: `SentenceEncoder`) as search's
/// embedder: 384 dimensions, no network. The model is loaded at the first embedding (an
/// embedder for a model whose files are missing can exist; embedding with it throws the
/// `EncoderError` naming the file). Encoding runs on Dispatch's threads, never on the tasks'
/// cooperative pool (a batch of 64 texts is a fraction of a second of CPU).
public struct SentenceEmbedder: Embedder {
    public static let model = "all-MiniLM-L6-v2"
    public static let identity = EmbedderIdentity(provider: "builtin", model: model, dimension: SentenceEncoder.dimensions)
    public var identity: EmbedderIdentity { Self.identity }
    let files: SentenceModel
    let threads: Int

    public init(files: SentenceModel, threads: Int = 2) {
        self.files = files
        self.threads = threads
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let encoder = try files.encoder(), threads = threads
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async { continuation.resume(returning: encoder.encode(texts, threads: threads)) }
        }
    }
}

/// Where the sentence model's files are, and the model loaded from them once: one instance
/// per directory in the process (`at(_:)`), so every embedder and every `PortalCore` share
/// the 90 MB of weights. A load that fails is tried again at the next call, so files restored
/// while the portal runs are picked up.
public final class SentenceModel: Sendable {
    public let directory: String
    private let loaded = Mutex<SentenceEncoder?>(nil)
    private static let shared = Mutex<[String: SentenceModel]>([:])

    private init(directory: String) {
        self.directory = directory
    }

    /// The model in `directory` (by default `defaultDirectory()`).
    public static func at(_ directory: String = defaultDirectory()) -> SentenceModel {
        shared.withLock { models in
            if let model = models[directory] { return model }
            let model = SentenceModel(directory: directory)
            models[directory] = model
            return model
        }
    }

    /// The installed package's directory (`/usr/lib/portal/models`), or one beside the
    /// executable (`models/` next to it in `dist/` and the tarball, `lib/portal/models` above
    /// a `bin/`, or `.build/models` for a build of this repository), whichever holds the
    /// weights first; with none, the installed one (so an error names where they belong).
    public static func defaultDirectory() -> String {
        let name = "all-MiniLM-L6-v2"
        var candidates = ["/usr/lib/portal/models/" + name]
        if let executable = executableDirectory() {
            // dist/portal and the tarball's portal; a bin/portal; SwiftPM's .build/<triple>/<configuration>/portal.
            candidates += [executable + "/models/" + name, executable + "/../lib/portal/models/" + name, executable + "/../../models/" + name]
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

    /// The load's error, or `nil` when the model loads.
    public func problem() -> EncoderError? {
        do {
            _ = try encoder()
            return nil
        } catch {
            return error
        }
    }
}
