import Hummingbird

extension AssetCatalog.Asset {
    /// The response for `request`: 304 when the client's `If-None-Match` matches, gzip when the
    /// client accepts it, `Vary: Accept-Encoding` always.
    func response(to request: Request, cacheControl: String) -> Response {
        var headers: HTTPFields = [
            .contentType: contentType,
            .cacheControl: cacheControl,
            .eTag: etag,
            .vary: "Accept-Encoding",
        ]
        if let ifNoneMatch = request.headers[.ifNoneMatch],
           ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingSpaces == etag || $0.trimmingSpaces == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        if let gzip, Self.acceptsGzip(request.headers[.acceptEncoding]) {
            headers[.contentEncoding] = "gzip"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: gzip))
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: identity))
    }

    /// Whether an `Accept-Encoding` value admits gzip (`gzip` or `*`, with a non-zero q-value).
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for element in header.split(separator: ",") {
            let parts = element.split(separator: ";").map(\.trimmingSpaces)
            guard let coding = parts.first?.lowercased(), coding == "gzip" || coding == "*" else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
        return false
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
