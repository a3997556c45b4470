import Hummingbird
import KV
import Portal

/// The web UI's files, compiled into the binary. At start-up each asset gets a content-hashed
/// URL (`/assets/app.3f2a9c1b0d4e.css`) so it can be cached forever, and a gzip copy when that
/// is smaller. The HTML page refers to the hashed URLs and is never cached.
public struct AssetCatalog: Sendable {
    /// One servable file.
    struct Asset: Sendable {
        let contentType: String
        let identity: ByteBuffer
        let gzip: ByteBuffer?
        let etag: String
    }

    /// Assets by their hashed file name (the part after `/assets/`).
    let assets: [String: Asset]
    let indexPage: Asset

    public init() throws {
        var assets: [String: Asset] = [:]
        var urls: [String: String] = [:]
        let files: [(name: String, ext: String, type: String, bytes: [UInt8])] = [
            ("app", "css", "text/css; charset=utf-8", PackageResources.app_css),
            ("app", "js", "text/javascript; charset=utf-8", PackageResources.app_js),
            ("icon", "svg", "image/svg+xml", PackageResources.icon_svg),
        ]
        for file in files {
            let asset = try Self.makeAsset(file.bytes, contentType: file.type)
            let hashedName = "\(file.name).\(asset.etag.dropFirst().prefix(12)).\(file.ext)"
            assets[hashedName] = asset
            urls["\(file.name).\(file.ext)"] = "/assets/\(hashedName)"
        }
        var html = String(decoding: PackageResources.index_html, as: UTF8.self)
        for (name, url) in urls {
            html = html.replacingOccurrences(of: "{{asset:\(name)}}", with: url)
        }
        precondition(!html.contains("{{asset:"), "index.html names an asset the catalog does not have")
        self.assets = assets
        self.indexPage = try Self.makeAsset(Array(html.utf8), contentType: "text/html; charset=utf-8")
    }

    private static func makeAsset(_ bytes: [UInt8], contentType: String) throws -> Asset {
        let compressed = try Gzip.compress(bytes)
        return Asset(
            contentType: contentType,
            identity: ByteBuffer(bytes: bytes),
            gzip: compressed.count < bytes.count ? ByteBuffer(bytes: compressed) : nil,
            etag: "\"\(Crypto.sha256(bytes).hexString.prefix(32))\""
        )
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
