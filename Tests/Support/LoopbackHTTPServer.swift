public import Foundation
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests that need something to connect to (an HTTP
/// check's target, a listening TCP port): it answers every request with the same status and
/// body and closes the connection, and counts and keeps what it accepted (each request's head
/// and body, as text). It runs on a thread of its own until `stop()`.
public final class LoopbackHTTPServer: Sendable {
    public let port: Int
    private let listener: Int32
    private let state = State()

    private final class State: Sendable {
        let accepted = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
        let requests = Mutex<[String]>([])
    }

    /// The requests it read, in order: the head, a blank line and the body.
    public var requests: [String] { state.requests.withLock { $0 } }

    /// How many connections it accepted.
    public var connections: Int { state.accepted.load(ordering: .acquiring) }

    public init(status: Int = 200, body: String = "ok", contentType: String = "text/plain") throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else { throw RawHTTPConnection.ConnectionError(errno: errno) }
        port = Int(UInt16(bigEndian: address.sin_port))
        let response = "HTTP/1.1 \(status) Test\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let state = self.state
        Thread.detachNewThread {
            while !state.stopped.load(ordering: .acquiring) {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { if errno == EINTR { continue } else { return } }
                state.accepted.add(1, ordering: .releasing)
                var buffer = [UInt8](repeating: 0, count: 8192)
                var request = Data()
                func complete() -> Bool {
                    guard let end = request.range(of: Data("\r\n\r\n".utf8)) else { return false }
                    let head = String(decoding: request[..<end.lowerBound], as: UTF8.self).lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    return request.count - end.upperBound >= length
                }
                while !complete() {
                    let count = recv(connection, &buffer, buffer.count, 0)
                    guard count > 0 else { break }
                    request.append(contentsOf: buffer[..<count])
                }
                let text = String(decoding: request, as: UTF8.self)
                state.requests.withLock { $0.append(text) }
                _ = response.withCString { send(connection, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(connection)
            }
        }
    }

    /// Stops accepting (the listening socket is shut down, which ends the thread's `accept`).
    /// Idempotent.
    public func stop() {
        guard !state.stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }
}
