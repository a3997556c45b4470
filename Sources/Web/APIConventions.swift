public import Hummingbird
import FoundationEssentials
import HTTPTypes
import KV
import NIOCore
import Portal

/// The conventions every API route follows, in one place: the versioned prefix, query
/// parameters checked by name, cursor pages with a `next` link, `Idempotency-Key` on
/// creations, `ETag`/`If-Match` on updates, and `Location` on the address the request used.
enum APIConventions {
    /// Where the stable, versioned API lives.
    static let stablePrefix = "/api/v1/"

    /// `/api/tools` → `/api/v1/tools`.
    static func stablePath(_ path: String) -> String { "/api/v1" + path.dropFirst("/api".count) }

    /// The web client's address of a stable path (`/api/v1/runs/x` → `/api/runs/x`).
    static func webPath(_ path: String) -> String {
        path.hasPrefix(stablePrefix) ? "/api" + path.dropFirst("/api/v1".count) : path
    }

    // MARK: Query parameters

    /// Refuses a query parameter the route does not read (400, naming it: a typo in a filter
    /// must not silently return everything), one given twice, one that does not fit its
    /// documented schema (type, range, length, pattern, choices, date format), and a missing
    /// required one. Handlers then read values known to be well-formed.
    static func checkQuery(_ request: Request, parameters: [QueryParameter]) throws {
        var seen: Set<String> = []
        for (name, value) in request.uri.queryParameters {
            let name = String(name)
            guard let parameter = parameters.first(where: { $0.name == name }) else {
                let known = parameters.isEmpty ? "this operation reads none" : "this operation reads " + parameters.map(\.name).sorted().joined(separator: ", ")
                throw ProblemDetails(.badRequest, type: .unknownParameter, detail: "Unknown query parameter '\(name)' (\(known)).")
            }
            guard seen.insert(name).inserted else { throw ProblemDetails(.badRequest, detail: "The query parameter '\(name)' is given more than once.") }
            if let problem = parameter.problem(with: String(value)) { throw ProblemDetails(.badRequest, detail: "\(name) \(problem).") }
        }
        for parameter in parameters where parameter.required && !seen.contains(parameter.name) {
            throw ProblemDetails(.badRequest, detail: "The query parameter '\(parameter.name)' is required.")
        }
    }

    // MARK: Pages

    static let defaultPageSize = 50
    static let maximumPageSize = 200

    /// `limit`: 50 when absent; larger than 200 is served as 200, and the page's `limit` says so.
    static func pageSize(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return defaultPageSize }
        // Any larger whole number, even one beyond Int's range, is served at the cap.
        guard text.allSatisfy(\.isASCIIDigit), text.contains(where: { $0 != "0" }) else {
            throw ProblemDetails(.badRequest, detail: "limit must be a whole number from 1 (at most \(maximumPageSize) are returned).")
        }
        return Int(text).map { min($0, maximumPageSize) } ?? maximumPageSize
    }

    /// The request's own path and query with `cursor` set: the link to the page after this one.
    static func nextLink(_ request: Request, cursor: String?) -> String? {
        guard let cursor else { return nil }
        var items = request.uri.queryParameters.filter { $0.key != "cursor" }.map { (String($0.key), String($0.value)) }
        items.append(("cursor", cursor))
        return request.uri.path + "?" + items.map { "\(OutboundHTTP.formEncode($0.0))=\(OutboundHTTP.formEncode($0.1))" }.joined(separator: "&")
    }

    /// A page's JSON with its `next` link in the body and as an RFC 8288 `Link` header.
    static func pageResponse(_ value: some Encodable, next: String?) throws -> Response {
        var response = try PortalRoutes.jsonResponse(.ok, value)
        if let next { response.headers[.link] = "<\(next)>; rel=\"next\"" }
        return response
    }

    // MARK: Locations

    /// On a `/api/v1/…` request, a `Location` the handler gave as a web client path points
    /// into v1 too.
    static func addressed(_ response: Response, for request: Request) -> Response {
        guard request.uri.path.hasPrefix(stablePrefix), let location = response.headers[.location],
              location.hasPrefix("/api/"), !location.hasPrefix(stablePrefix) else { return response }
        var response = response
        response.headers[.location] = stablePath(location)
        return response
    }

    // MARK: Versions of a record

    /// A strong entity tag of a record's JSON form, as `GET` returns it.
    static func entityTag(_ value: some Encodable) throws -> String {
        let digest = SHA256.hash(Array(try PortalRoutes.jsonEncoder.encode(value)))
        return "\"" + Array(digest.prefix(16)).hexString + "\""
    }

    /// `value` as JSON with its `ETag`.
    static func taggedResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        try taggedResponse(value, version: value, status: status)
    }

    /// `value` as JSON with the `ETag` of `version`: the record's form without what depends
    /// on who asks (an organization's body carries the caller's role there; its version does not).
    static func taggedResponse(_ value: some Encodable, version: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = try PortalRoutes.jsonResponse(status, value)
        response.headers[.eTag] = try entityTag(version)
        return response
    }

    /// The check an update runs on the current record inside its transaction, when the
    /// request sent `If-Match`: 412 when no tag matches the record's (someone changed it since
    /// the caller read it). `nil` without `If-Match` (the update applies unconditionally).
    static func precondition<Record, Body: Encodable>(_ request: Request, _ body: @escaping @Sendable (Record) -> Body) throws -> (@Sendable (Record) throws -> Void)? {
        guard let header = request.headers[.ifMatch] else { return nil }
        // Empty list elements are ignored (RFC 9110 §5.6.1); a list left with no tag matches
        // no version, so the change is refused (412), never applied unconditionally.
        guard let tags = entityTags(header) else {
            throw ProblemDetails(.badRequest, detail: "If-Match must be * or entity tags as the ETag header gives them (\"…\"), separated by commas.")
        }
        if tags.contains("*") { return nil }
        return { record in
            let current = try entityTag(body(record))
            guard tags.contains(current) else {
                throw ProblemDetails(.preconditionFailed, type: .preconditionFailed,
                                     detail: "The record changed since you read it (its ETag is now \(current)); read it again and re-apply your change.")
            }
        }
    }

    /// `If-Match` as RFC 9110 writes it: `*`, or entity tags separated by commas.
    static let ifMatchPattern = #"^(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)$"#

    /// The elements of an `If-Match` list (RFC 9110 §13.1.1, §5.6.1): `*` or entity tags
    /// (`"…"`, `W/"…"`), separated by commas with optional spaces and tabs; a comma inside a
    /// tag's quotes belongs to the tag. `nil` when the header is not such a list.
    static func entityTags(_ header: String) -> [String]? {
        let bytes = Array(header.utf8)
        var tags: [String] = []
        var index = 0
        func skipSpace() { while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 } }
        while true {
            skipSpace()
            guard index < bytes.count else { return tags }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1  // an empty element
                continue
            }
            let start = index
            if bytes[index] == UInt8(ascii: "*") {
                index += 1
            } else {
                if bytes[index...].starts(with: "W/".utf8) { index += 2 }
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    guard bytes[index] == 0x21 || (0x23...0x7E).contains(bytes[index]) || bytes[index] >= 0x80 else { return nil }
                    index += 1
                }
                guard index < bytes.count else { return nil }
                index += 1
            }
            tags.append(String(decoding: bytes[start..<index], as: UTF8.self))
            skipSpace()
            if index < bytes.count {
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        }
    }

    // MARK: Idempotency

    /// Runs a creation once per `Idempotency-Key`: the same key with the same request within
    /// 24 hours answers the first result again (`Idempotent-Replayed: true`); with another
    /// request it is 422; while the first still runs, 409. See `IdempotencyKeys`.
    static func idempotent(_ request: Request, key: String, context: PortalContext, store: IdempotencyKeys, limit: Int,
                           _ handler: @Sendable (Request, PortalContext) async throws -> Response) async throws -> Response {
        guard let principal = context.principal else { return try await handler(request, context) }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ProblemDetails(.badRequest, detail: "Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice).")
        }
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limit) } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RequestBodyRules.tooLarge(limit)
        }
        let hash = SHA256()
        hash.update(Array("\(request.method.rawValue) \(webPath(request.uri.path))\n".utf8))
        hash.update(Array(body.readableBytesView))
        let fingerprint = hash.finish()
        let scope = principal.id + "@" + (principal.organizationID?.uuidString ?? "-")
        do {
            if case let .replay(stored) = try await store.claim(scope: scope, key: key, fingerprint: fingerprint) { return replay(stored) }
        } catch IdempotencyKeys.Refusal.reused {
            throw ProblemDetails(.unprocessableContent, type: .idempotencyKeyReused,
                                 detail: "This Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new request.")
        } catch let IdempotencyKeys.Refusal.inUse(interrupted) {
            throw ProblemDetails(.conflict, type: .idempotencyKeyInUse, detail: interrupted
                ? "A request with this Idempotency-Key was interrupted by a restart of the portal; its outcome is unknown, so it is not run again. Look the result up (or use a new key)."
                : "A request with this Idempotency-Key is still being processed; retry in a moment.")
        }
        var response: Response
        do { response = try await handler(request, context) } catch {
            try? await store.release(scope: scope, key: key)
            throw error
        }
        // Only a JSON answer is kept to replay: a stream (an answer sent as server-sent
        // events) is passed through as it comes, and its key freed.
        guard (200..<300).contains(response.status.code), response.headers[.contentType]?.hasPrefix("application/json") == true else {
            try await store.release(scope: scope, key: key)
            return response
        }
        response = addressed(response, for: request)
        let collector = BodyCollector()
        try await response.body.write(collector)
        let bytes = collector.box.bytes
        var headers: [String: String] = [:]
        for name in [HTTPField.Name.contentType, .location, .eTag] { headers[name.canonicalName] = response.headers[name] }
        try await store.finish(scope: scope, key: key, response: .init(status: response.status.code, headers: headers, body: bytes))
        response.body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        return response
    }

    static func replay(_ stored: IdempotencyKeys.StoredResponse) -> Response {
        var headers: HTTPFields = [.cacheControl: "no-store", .idempotentReplayed: "true"]
        for (name, value) in stored.headers { if let name = HTTPField.Name(name) { headers[name] = value } }
        return Response(status: .init(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    /// Gathers a response body written to it.
    struct BodyCollector: ResponseBodyWriter {
        final class Box: @unchecked Sendable { var bytes: [UInt8] = [] }
        let box = Box()

        mutating func write(_ buffer: ByteBuffer) async throws { box.bytes += buffer.readableBytesView }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
