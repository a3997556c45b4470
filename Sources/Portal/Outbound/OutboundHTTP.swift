import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import Synchronization

/// Requests the portal makes to other servers (identity providers; later model servers and
/// HTTP tools). Guarantees: redirects are never followed (a 3xx is an answer like any other),
/// every request has a deadline, and a response body larger than `maximumBodyBytes` is
/// refused rather than buffered.
public struct OutboundHTTP: Sendable {
    public var timeout: Duration = .seconds(10)
    public var maximumBodyBytes = 1 << 20

    public init() {}

    /// One client for the process: `HTTPClient` must be shut down before it is released, and
    /// a process-wide constant never is.
    private static let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    private static var configuration: HTTPClient.Configuration {
        HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
    }

    public struct Response: Sendable {
        public let status: Int
        public let body: [UInt8]
        public let contentType: String?
        /// `Retry-After` in seconds, when the server sent one as a number.
        public var retryAfterSeconds: Int? = nil
        /// Every header, names in lowercase (the first value of a repeated one).
        public var headers: [String: String] = [:]
    }

    /// Every header, names in lowercase (the first value of a repeated one).
    private static func fields(_ headers: HTTPHeaders) -> [String: String] {
        headers.reduce(into: [:]) { fields, header in
            let name = header.name.lowercased()
            if fields[name] == nil { fields[name] = header.value }
        }
    }

    /// `GET url`, with `Accept: application/json`.
    public func get(_ url: String) async throws(OutboundError) -> Response {
        try await send(url: url, method: "GET", headers: [("Accept", "application/json")], body: nil)
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body.
    public func postForm(_ url: String, _ fields: [(String, String)], headers: [(String, String)] = []) async throws(OutboundError) -> Response {
        let body = fields.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        return try await send(url: url, method: "POST", headers: headers + [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], body: Array(body.utf8))
    }

    /// Any request; `method` is an HTTP method name (`GET`, `POST`, …). With `pinned`, the
    /// connection goes to that address for that host name (already resolved and checked by
    /// the caller), so the name cannot resolve elsewhere between the check and the connect;
    /// TLS still verifies the certificate for the host name.
    public func send(url: String, method: String, headers: [(String, String)], body: [UInt8]?,
              pinned: (host: String, address: String)? = nil) async throws(OutboundError) -> Response {
        let client: HTTPClient
        if let pinned {
            var configuration = Self.configuration
            configuration.dnsOverride = [pinned.host: pinned.address]
            client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        } else {
            client = Self.client
        }
        let result: Result<Response, OutboundError>
        do {
            result = .success(try await collected(try await client.execute(Self.request(url, method, headers, body), timeout: .seconds(timeout.components.seconds))))
        } catch {
            result = .failure(outboundError(error, url: url))
        }
        // A client made for one request must be shut down; a failure to do so leaks nothing the
        // caller can act on.
        if pinned != nil { try? await client.shutdown() }
        return try result.get()
    }

    private static func request(_ url: String, _ method: String, _ headers: [(String, String)], _ body: [UInt8]?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return request
    }

    /// The whole answer, its body at most `maximumBodyBytes`.
    private func collected(_ response: HTTPClientResponse) async throws -> Response {
        let buffer = try await response.body.collect(upTo: maximumBodyBytes)
        return Response(status: Int(response.status.code), body: Array(buffer.readableBytesView), contentType: response.headers.first(name: "Content-Type"),
                        retryAfterSeconds: response.headers.first(name: "Retry-After").flatMap { Self.retryAfterSeconds($0) }, headers: Self.fields(response.headers))
    }

    /// `Retry-After` as seconds from now: a number of seconds, or an HTTP date
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's IMF-fixdate); a date in the past is 0.
    static func retryAfterSeconds(_ value: String, now: Date = Date()) -> Int? {
        let value = value.split(separator: " ").joined(separator: " ")
        if let seconds = Int(value) { return seconds >= 0 ? seconds : nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = value.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT", let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        guard let date = calendar.date(from: DateComponents(year: year, month: month + 1, day: day, hour: clock[0], minute: clock[1], second: min(clock[2], 59))),
              calendar.component(.day, from: date) == day else { return nil }
        return max(0, Int(date.timeIntervalSince(now).rounded(.up)))
    }

    /// What a failed exchange with `url` means for the caller.
    private func outboundError(_ error: any Error, url: String) -> OutboundError {
        switch error {
        case is NIOTooManyBytesError:
            .tooLarge(url: Self.redacted(url), limit: maximumBodyBytes)
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout:
            .timedOut(url: Self.redacted(url), seconds: Int(timeout.components.seconds))
        default:
            .unreachable(url: Self.redacted(url), reason: String(describing: error))
        }
    }

    /// A request whose answer is read as it arrives (a model's streamed reply). A 2xx body is
    /// handed to `onChunk` piece by piece and the returned `Response` has an empty body; any
    /// other status is collected (up to `maximumBodyBytes`) into the `Response`. A 2xx
    /// answer's headers go to `onHeaders` before its body. `timeout`
    /// bounds the whole exchange; `idleTimeout` the silence between two pieces. Throws an
    /// `OutboundError`, or what `onChunk` threw, unchanged.
    func stream(url: String, method: String, headers: [(String, String)], body: [UInt8]?, idleTimeout: Duration,
                onHeaders: @Sendable ([String: String]) -> Void = { _ in },
                onChunk: @escaping @Sendable ([UInt8]) async throws -> Void) async throws -> Response {
        let limit = maximumBodyBytes
        do {
            let response = try await Self.client.execute(Self.request(url, method, headers, body), timeout: .seconds(timeout.components.seconds))
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else { return try await collected(response) }
            onHeaders(Self.fields(response.headers))
            let lastActivity = LastActivity()
            let responseBody = response.body
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var received = 0
                    for try await piece in responseBody {
                        received += piece.readableBytes
                        guard received <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
                        lastActivity.instant.withLock { $0 = .now }
                        do { try await onChunk(Array(piece.readableBytesView)) } catch { throw ChunkHandlerError(underlying: error) }
                    }
                }
                group.addTask {
                    // The watchdog: ends the exchange when the server stays silent too long.
                    while true {
                        try await Task.sleep(for: min(idleTimeout, .milliseconds(250)))
                        if lastActivity.instant.withLock({ $0 }).duration(to: .now) > idleTimeout { throw StreamIdle() }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
            return Response(status: status, body: [], contentType: response.headers.first(name: "Content-Type"))
        } catch is StreamIdle {
            throw OutboundError.timedOut(url: Self.redacted(url), seconds: Int(idleTimeout.components.seconds))
        } catch let error as ChunkHandlerError {
            throw error.underlying
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw outboundError(error, url: url)
        }
    }

    private struct StreamIdle: Error {}
    private final class LastActivity: Sendable { let instant = Mutex(ContinuousClock.now) }
    private struct ChunkHandlerError: Error { let underlying: any Error }

    /// Whether `text` can be an API root of a server the portal calls (a model or embeddings
    /// server): an absolute http or https URL with a host, no query and no fragment.
    static func isAPIRoot(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, let host = url.host else { return false }
        return ["http", "https"].contains(scheme) && !host.isEmpty && url.query == nil && url.fragment == nil
    }

    /// The URL without its query, which may carry codes or keys.
    static func redacted(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }

    /// `value` as one URL path segment: percent-encoded like a form value, and `.` or `..`
    /// (which clients and servers resolve as "this" or "the parent" directory) encoded as well.
    public static func pathSegmentEncode(_ value: String) -> String {
        value == "." || value == ".." ? String(repeating: "%2E", count: value.count) : formEncode(value)
    }

    /// `application/x-www-form-urlencoded` escaping: unreserved characters stay, the rest are %XX.
    public static func formEncode(_ value: String) -> String {
        var result = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + [byte].hexString.uppercased()
            }
        }
        return result
    }
}

/// Why an outbound request got no usable answer. Messages carry no query strings or bodies.
public enum OutboundError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreachable(url: String, reason: String)
    case timedOut(url: String, seconds: Int)
    case tooLarge(url: String, limit: Int)

    public var description: String {
        switch self {
        case let .unreachable(url, reason): "\(url) could not be reached: \(reason)"
        case let .timedOut(url, seconds): "\(url) did not answer within \(seconds) s"
        case let .tooLarge(url, limit): "\(url) answered with more than \(limit) bytes"
        }
    }
}
