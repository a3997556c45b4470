import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
import Testing
@testable import Web

/// The web client shell: the HTML page, the client's files under one content-hashed prefix
/// (cacheable, compressed), and the strict CSP.
@Suite struct ShellTests {
    static func assetURLs(in html: String) -> [String] {
        html.split(separator: "\"").filter { $0.hasPrefix("/assets/") }.map(String.init)
    }

    static let sourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Web/UI").standardized.path

    @Test func indexRefersToTheHashedPrefixAndEveryFileIsServedImmutable() async throws {
        let catalog = try AssetCatalog()
        try await WebTestHarness().test { client in
            let html = try await client.execute(uri: "/", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-cache")
                return String(buffer: response.body)
            }
            #expect(html.contains("<title>Self-Service Portal</title>"))
            #expect(!html.contains("{{"))
            let urls = Set(Self.assetURLs(in: html))
            #expect(urls.contains("\(catalog.prefix)/app.js") && urls.contains("\(catalog.prefix)/app.css"), "\(urls)")
            #expect(catalog.prefix.range(of: #"^/assets/[0-9a-f]{16}$"#, options: .regularExpression) != nil, "\(catalog.prefix)")
            // Every embedded file, at every depth, answers under the prefix with its type.
            for path in catalog.paths {
                try await client.execute(uri: "\(catalog.prefix)/\(path)", method: .get) { response throws in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable", "\(path)")
                    #expect(response.body.readableBytes > 0, "\(path)")
                    if path.hasSuffix(".js") { #expect(response.headers[.contentType] == "text/javascript; charset=utf-8", "\(path)") }
                }
            }
        }
    }

    /// The embedded list (`UIFiles`, written by scripts/ui-files.sh) is the directory: a file
    /// added to the client and not to the list, or listed and gone, fails here.
    @Test func theEmbeddedFilesAreExactlyTheClientDirectory() throws {
        let embedded = try AssetCatalog()
        let onDisk = try AssetCatalog(directory: Self.sourceDirectory)
        #expect(embedded.paths == onDisk.paths, "run scripts/ui-files.sh")
        #expect(embedded.prefix == onDisk.prefix, "a file's embedded bytes differ from the directory's: rebuild")
        #expect(embedded.paths.contains("pages/home.js") && embedded.paths.contains("lib/api.js"))
    }

    @Test func anyChangeToAFileMovesThePrefix() throws {
        let base: [(path: String, bytes: [UInt8])] = [("index.html", Array("<p>{{assets}}</p>".utf8)), ("app.js", [1]), ("pages/a.js", [2])]
        let changed = base.map { $0.path == "pages/a.js" ? ($0.path, [3]) : $0 }
        let renamed = base.map { $0.path == "pages/a.js" ? ("pages/b.js", $0.bytes) : $0 }
        let prefixes = try [base, changed, renamed].map { try AssetCatalog(files: $0).prefix }
        #expect(Set(prefixes).count == 3)
        #expect(try AssetCatalog(files: base.reversed()).prefix == prefixes[0], "the order files are listed in does not matter")
        #expect(throws: AssetCatalog.CatalogError.self) { try AssetCatalog(files: base + [("a/b/c.js", [4])]) }
        #expect(throws: AssetCatalog.CatalogError.self) { try AssetCatalog(files: base + [("notes.txt", [4])]) }
    }

    /// The client writes data as text and styles through the stylesheet only: no HTML parsing
    /// of strings (`innerHTML` and kin) and no inline styles (the CSP refuses them anyway).
    @Test func noClientFileParsesHTMLOrSetsInlineStyles() throws {
        for file in UIFiles.all where file.path.hasSuffix(".js") {
            let source = String(decoding: file.bytes, as: UTF8.self)
            for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", ".style.", "\"style\"", "style=", "eval(", "new Function"] {
                #expect(!source.contains(forbidden), "\(file.path) uses \(forbidden)")
            }
        }
    }

    @Test func theHTMLHasNoInlineScriptOrStyle() async throws {
        try await WebTestHarness().test { client in
            try await client.execute(uri: "/", method: .get) { response throws in
                let html = String(buffer: response.body)
                #expect(!html.contains(" style="))
                #expect(!html.contains("<style"))
                let scripts = html.components(separatedBy: "<script").dropFirst()
                #expect(!scripts.isEmpty)
                #expect(scripts.allSatisfy { $0.hasPrefix(" type=\"module\" src=\"/assets/") })
                #expect(!SecurityHeadersMiddleware.contentSecurityPolicy.contains("unsafe"))
            }
        }
    }

    @Test func assetsAreGzippedOnlyWhenAccepted() async throws {
        try await WebTestHarness().test { client in
            let html = try await client.execute(uri: "/", method: .get) { String(buffer: $0.body) }
            let css = try #require(Self.assetURLs(in: html).first { $0.hasSuffix(".css") })
            let identity = try await client.execute(uri: css, method: .get) { response throws in
                #expect(response.headers[.contentEncoding] == nil)
                #expect(response.headers[.vary] == "Accept-Encoding")
                return Array(buffer: response.body)
            }
            for accept in ["gzip", "br, gzip;q=0.8", "*"] {
                try await client.execute(uri: css, method: .get, headers: [.acceptEncoding: accept]) { response throws in
                    #expect(response.headers[.contentEncoding] == "gzip", "Accept-Encoding: \(accept)")
                    let compressed = Array(buffer: response.body)
                    #expect(compressed.count < identity.count)
                    #expect(try Gzip.decompress(compressed) == identity)
                }
            }
            for accept in ["gzip;q=0", "br", "identity"] {
                try await client.execute(uri: css, method: .get, headers: [.acceptEncoding: accept]) { response throws in
                    #expect(response.headers[.contentEncoding] == nil, "Accept-Encoding: \(accept)")
                    #expect(Array(buffer: response.body) == identity)
                }
            }
        }
    }

    @Test func aMatchingETagGets304() async throws {
        try await WebTestHarness().test { client in
            let etag = try await client.execute(uri: "/", method: .get) { try #require($0.headers[.eTag]) }
            try await client.execute(uri: "/", method: .get, headers: [.ifNoneMatch: etag]) { response throws in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/", method: .get, headers: [.ifNoneMatch: "\"other\""]) { response throws in
                #expect(response.status == .ok)
            }
        }
    }

    /// A file of another build (a page loaded before an upgrade), a path outside the tree, or
    /// a file that does not exist is 404, never today's file under another name.
    @Test func unknownAssetsAre404ProblemDocuments() async throws {
        let prefix = try AssetCatalog().prefix
        try await WebTestHarness().test { client in
            for path in ["/assets/0000000000000000/app.js", "/assets/0000000000000000/pages/home.js", "\(prefix)/../Package.swift", "\(prefix)/nope.js",
                         "\(prefix)/pages/nope.js", "\(prefix)/index.html", "/assets/", "/assets/app.js"] {
                try await client.execute(uri: path, method: .get) { response throws in
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                }
            }
        }
    }
}
