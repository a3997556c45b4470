public import Foundation

/// A minimal HTTP/1.1 client over a plain socket, so tests control exactly what is sent and when
/// (a request whose body arrives in two parts, headers sent a byte at a time, headers browsers
/// send, a stream read as it comes). Shared by the web and process-level tests.
///
/// Its calls block. A test whose server runs in the same process must make them through
/// `offPool`, or a blocked read can hold the cooperative threads the server needs to answer.
/// One connection is used by one task at a time (hence `@unchecked Sendable`).
public final class RawHTTPConnection: @unchecked Sendable {
    public struct Response: Sendable {
        public let status: Int
        public let headers: [String: String]
        public let body: Data

        public func header(_ name: String) -> String? { headers[name.lowercased()] }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private let socket: Int32

    public init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            let code = errno
            close(socket)
            throw ConnectionError(errno: code)
        }
    }

    public struct ConnectionError: Error { public let errno: Int32 }

    deinit { close(socket) }

    /// Ends the connection from this side (the descriptor itself is released at deinit).
    public func shutDown() { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }

    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw ConnectionError(errno: errno) }
            sent += count
        }
    }

    /// What arrives within `timeout`, until the server closes the connection or `stop` says
    /// the text so far is enough. `closed` tells whether the server closed it.
    public func read(timeout: Duration, until stop: (String) -> Bool = { _ in false }) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let remaining = ContinuousClock.now.duration(to: deadline)
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let count = recv(socket, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return (String(decoding: data, as: UTF8.self), true) }
            data.append(contentsOf: buffer[..<count])
            if stop(String(decoding: data, as: UTF8.self)) { break }
        }
        return (String(decoding: data, as: UTF8.self), false)
    }

    /// Reads until the server closes the connection and parses the response.
    public func readResponse() throws -> Response {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            data.append(contentsOf: buffer[..<count])
        }
        guard let separator = data.range(of: Data("\r\n\r\n".utf8)) else { throw ConnectionError(errno: EPROTO) }
        let head = String(decoding: data[..<separator.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ConnectionError(errno: EPROTO) }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[separator.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = Self.dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: Data) -> Data {
        var result = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)),
              let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16), size > 0 {
            let start = lineEnd.upperBound
            result.append(rest[start..<start + size])
            rest = rest[(start + size + 2)...]
        }
        return result
    }

    /// One request on a fresh connection with `Connection: close`.
    public static func get(port: Int, _ path: String, headers: [String: String] = [:]) throws -> Response {
        let connection = try RawHTTPConnection(port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try connection.send(request + "\r\n")
        return try connection.readResponse()
    }

    /// One POST with a JSON body on a fresh connection with `Connection: close`.
    public static func post(port: Int, _ path: String, json: String, headers: [String: String] = [:]) throws -> Response {
        try send("POST", port: port, path, json: json, headers: headers)
    }

    /// One request with a JSON body on a fresh connection with `Connection: close`.
    public static func send(_ method: String, port: Int, _ path: String, json: String, headers: [String: String] = [:]) throws -> Response {
        let connection = try RawHTTPConnection(port: port)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        request += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try connection.send(request + "\r\n" + json)
        return try connection.readResponse()
    }
}

/// Runs blocking work on a thread of its own, never on Swift's cooperative pool (which has one
/// thread per core: two blocked reads on a 2-core machine would starve an in-process server).
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        DispatchQueue(label: "raw-http").async { continuation.resume(returning: Result { try work() }) }
    }
    return try result.get()
}
