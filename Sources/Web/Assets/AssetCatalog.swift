public import FoundationEssentials
import Hummingbird
import KV
import Portal

/// The web client's files, served under one content-hashed prefix, `/assets/<tree hash>/…`.
///
/// Guarantees: the prefix is a digest of every file's path and content, so any change to the
/// client gives every file a new URL and each can be cached forever (`immutable`), while the
/// modules' relative imports (`./pages/home.js`, `../lib/api.js`) keep working unchanged. The
/// HTML shell names the prefix and is never cached. Each file carries a gzip copy when that is
/// smaller. Files live at most one directory deep (`app.js`, `pages/home.js`).
public struct AssetCatalog: Sendable {
    /// One servable file.
    struct Asset: Sendable {
        let contentType: String
        let identity: ByteBuffer
        let gzip: ByteBuffer?
        let etag: String
    }

    /// `/assets/<tree hash>`: where every file of this build is served.
    public let prefix: String
    /// Files by their path below the prefix (`app.js`, `pages/home.js`).
    let assets: [String: Asset]
    let indexPage: Asset

    /// The files compiled into the binary (`UIFiles`).
    public init() throws {
        try self.init(files: UIFiles.all)
    }

    /// The files of a web client tree on disk, read once (for working on the client without
    /// rebuilding the binary: `portal serve --ui-dir Sources/Web/UI`).
    public init(directory: String) throws {
        try self.init(files: Self.read(directory: directory))
    }

    init(files: [(path: String, bytes: [UInt8])]) throws {
        guard let shell = files.first(where: { $0.path == "index.html" }) else { throw CatalogError("the web client has no index.html") }
        var tree: [UInt8] = []
        for file in files.sorted(by: { $0.path < $1.path }) {
            guard file.path.split(separator: "/").count <= 2 else { throw CatalogError("\(file.path) is more than one directory deep") }
            tree += Array(file.path.utf8) + [0] + Crypto.sha256(file.bytes) + [0x0A]
        }
        prefix = "/assets/\(Crypto.sha256(tree).hexString.prefix(16))"
        var assets: [String: Asset] = [:]
        for file in files where file.path != "index.html" {
            guard let type = Self.contentTypes[file.path.split(separator: ".").last.map(String.init) ?? ""] else {
                throw CatalogError("\(file.path) has a type the portal does not serve")
            }
            assets[file.path] = try Self.makeAsset(file.bytes, contentType: type)
        }
        let html = String(decoding: shell.bytes, as: UTF8.self).split(separator: "{{assets}}", omittingEmptySubsequences: false).joined(separator: prefix)
        self.assets = assets
        indexPage = try Self.makeAsset(Array(html.utf8), contentType: "text/html; charset=utf-8")
    }

    /// Every file's path below the prefix, sorted.
    public var paths: [String] { assets.keys.sorted() }

    static let contentTypes = [
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
        "json": "application/json",
    ]

    private static func makeAsset(_ bytes: [UInt8], contentType: String) throws -> Asset {
        let compressed = try Gzip.compress(bytes)
        return Asset(
            contentType: contentType,
            identity: ByteBuffer(bytes: bytes),
            gzip: compressed.count < bytes.count ? ByteBuffer(bytes: compressed) : nil,
            etag: "\"\(Crypto.sha256(bytes).hexString.prefix(32))\""
        )
    }

    /// The regular files under `directory` (one level of subdirectories), by relative path.
    static func read(directory: String) throws -> [(path: String, bytes: [UInt8])] {
        let manager = FileManager.default
        var files: [(path: String, bytes: [UInt8])] = []
        func add(_ relative: String) throws {
            var isDirectory = false
            let full = directory + "/" + relative
            guard manager.fileExists(atPath: full, isDirectory: &isDirectory) else { return }
            if isDirectory {
                for name in try manager.contentsOfDirectory(atPath: full) where !name.hasPrefix(".") { try add(relative + "/" + name) }
            } else {
                guard let data = manager.contents(atPath: full) else { throw CatalogError("cannot read \(full)") }
                files.append((path: relative, bytes: Array(data)))
            }
        }
        for name in try manager.contentsOfDirectory(atPath: directory) where !name.hasPrefix(".") { try add(name) }
        return files
    }

    /// Why a web client tree cannot be served.
    public struct CatalogError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
