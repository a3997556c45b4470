import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
import Testing
@testable import Web

/// The web UI shell: the HTML page, its hashed, cacheable, compressed assets, and the strict CSP.
@Suite struct ShellTests {
    static func assetURLs(in html: String) -> [String] {
        html.split(separator: "\"").filter { $0.hasPrefix("/assets/") }.map(String.init)
    }

    @Test func indexRefersToHashedAssetsThatAreServedImmutable() async throws {
        try await WebTestHarness().test { client in
            let html = try await client.execute(uri: "/", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-cache")
                return String(buffer: response.body)
            }
            #expect(html.contains("<title>Self-Service Portal</title>"))
            let urls = Set(Self.assetURLs(in: html))
            #expect(urls.count == 3, "\(urls)")
            for url in urls {
                #expect(url.range(of: #"^/assets/[a-z]+\.[0-9a-f]{12}\.(css|js|svg)$"#, options: .regularExpression) != nil, "\(url)")
                try await client.execute(uri: url, method: .get) { response throws in
                    #expect(response.status == .ok)
                    #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                    #expect(response.body.readableBytes > 0)
                }
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

    @Test(arguments: ["/assets/app.000000000000.css", "/assets/../Package.swift", "/assets/"])
    func unknownAssetsAre404ProblemDocuments(path: String) async throws {
        try await WebTestHarness().test { client in
            try await client.execute(uri: path, method: .get) { response throws in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }
}
