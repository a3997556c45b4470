import CSpawn
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A local MCP server spoken to over stdio (newline-delimited JSON-RPC), one process per
/// exchange: started, initialized, asked, and ended with its whole process group (whatever it
/// started too) when the answer is in, when the time is up, or when it writes more than the
/// limit.
///
/// Guarantees: the program is an allowed executable found on the tools path (as for command
/// tools, links included), started without a shell, with only the environment it is handed,
/// in the directory it is given; no read or write waits past the deadline; no wait blocks Swift's cooperative pool (the
/// exchange has a thread of its own); the server's own requests are answered (`ping` with an
/// empty result, anything else "method not found"); a server that exits early is a failure
/// naming its exit and the end of what it wrote to stderr.
struct MCPStdioExchange {
    let executable: String
    let arguments: [String]
    let environment: [String: String]
    let directory: String
    let deadline: ContinuousClock.Instant
    let timeoutSeconds: Int
    let maxBytes: Int
    let onNotification: @Sendable (String) -> Void

    private var pid: pid_t = 0
    /// The process group (the first process's id), killed at the end even after the first
    /// process was reaped.
    private var group: pid_t = 0
    private var received = 0
    private var input: Int32 = -1
    private var output: Int32 = -1
    private var errors: Int32 = -1
    private var pending: [UInt8] = []
    private var stderrTail: [UInt8] = []
    private var nextID = 1

    init(executable: String, arguments: [String], environment: [String: String], directory: String, timeout: Duration, maxBytes: Int,
         onNotification: @escaping @Sendable (String) -> Void) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        deadline = .now + timeout
        timeoutSeconds = Int(timeout.components.seconds)
        self.maxBytes = maxBytes
        self.onNotification = onNotification
    }

    /// Runs `body` against a started, initialized server on a thread of its own; the
    /// initialize result goes to `body` with the exchange.
    static func run<T: Sendable>(_ exchange: MCPStdioExchange, clientVersion: String,
                                 _ body: @escaping @Sendable (inout MCPStdioExchange, JSONAny) throws(MCPClientError) -> T) async throws(MCPClientError) -> T {
        try await onOwnThread("portal.mcp-stdio") { () throws(MCPClientError) -> T in
            var exchange = exchange
            defer { exchange.stop() }
            try exchange.start()
            let initialized = try exchange.request("initialize", .object([
                "protocolVersion": .string(MCPClient.protocolVersion),
                "capabilities": .object([:]),
                "clientInfo": .object(["name": .string("portal"), "version": .string(clientVersion)]),
            ]))
            try exchange.send(.object(["jsonrpc": .string("2.0"), "method": .string("notifications/initialized")]))
            return try body(&exchange, initialized)
        }
    }

    private mutating func start() throws(MCPClientError) {
        var stdinPipe: [Int32] = [-1, -1], stdoutPipe: [Int32] = [-1, -1], stderrPipe: [Int32] = [-1, -1]
        guard portal_pipe_cloexec(&stdinPipe) == 0, portal_pipe_cloexec(&stdoutPipe) == 0, portal_pipe_cloexec(&stderrPipe) == 0 else {
            let reason = String(cString: strerror(errno))
            for fd in stdinPipe + stdoutPipe + stderrPipe where fd >= 0 { close(fd) }
            throw .unreachable("pipe: \(reason)")
        }
        // A write to a server that has gone must fail with EPIPE, not end the portal.
        signal(SIGPIPE, SIG_IGN)
        let status = ProcessRunner.spawn(&pid, executable: executable, arguments: arguments, environment: environment, directory: directory,
                                         stdin: stdinPipe[0], stdout: stdoutPipe[1], stderr: stderrPipe[1])
        close(stdinPipe[0]); close(stdoutPipe[1]); close(stderrPipe[1])
        input = stdinPipe[1]
        output = stdoutPipe[0]
        errors = stderrPipe[0]
        guard status == 0 else {
            pid = 0
            throw .unreachable("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        group = pid
        for fd in [input, output, errors] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// Kills the process group, reaps the process, closes every descriptor.
    private mutating func stop() {
        for fd in [input, output, errors] where fd >= 0 { close(fd) }
        input = -1; output = -1; errors = -1
        if group > 0 { kill(-group, SIGKILL) }
        guard pid > 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
    }

    /// Sends a request and reads until its answer; the result, or why there is none.
    mutating func request(_ method: String, _ params: JSONAny?) throws(MCPClientError) -> JSONAny {
        let id = nextID
        nextID += 1
        var message: [String: JSONAny] = ["jsonrpc": .string("2.0"), "id": .number(Double(id)), "method": .string(method)]
        if let params { message["params"] = params }
        try send(.object(message))
        while true {
            let line = try readLine()
            guard let received = JSONAny(json: line) else { throw .protocolError("the server wrote a line that is not JSON") }
            if let method = received["method"]?.string {
                if let requestID = received["id"] {
                    // The server asks something of the portal: a ping is answered, nothing else is offered.
                    let answer: [String: JSONAny] = method == "ping"
                        ? ["jsonrpc": .string("2.0"), "id": requestID, "result": .object([:])]
                        : ["jsonrpc": .string("2.0"), "id": requestID, "error": .object(["code": .number(-32601), "message": .string("the portal offers no \(method)")])]
                    try send(.object(answer))
                } else {
                    onNotification(method)
                }
                continue
            }
            guard received["id"]?.integer == id else { continue }
            if let error = received["error"] {
                throw .rpc(code: error["code"]?.integer ?? 0, message: error["message"]?.string ?? "no message")
            }
            guard let result = received["result"] else { throw .protocolError("the server's answer has neither a result nor an error") }
            return result
        }
    }

    mutating func send(_ message: JSONAny) throws(MCPClientError) {
        var bytes = message.canonicalJSON + [0x0A]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            if written > 0 {
                bytes.removeFirst(written)
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EINTR else { throw exited("stopped reading its input") }
            var descriptor = pollfd(fd: input, events: Int16(POLLOUT), revents: 0)
            guard try wait(&descriptor) else { continue }
        }
    }

    /// The next line the server writes to stdout (stderr is kept for the error).
    private mutating func readLine() throws(MCPClientError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<newline])
                pending.removeFirst(newline + 1)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                return line
            }
            guard pending.count <= maxBytes else { throw .tooLarge(bytes: maxBytes) }
            var descriptors = [pollfd(fd: output, events: Int16(POLLIN), revents: 0), pollfd(fd: errors, events: Int16(POLLIN), revents: 0)]
            let remaining = deadline - .now
            guard remaining > .zero else { throw .timedOut(seconds: timeoutSeconds) }
            let ready = poll(&descriptors, 2, Int32(min(remaining.milliseconds + 1, 60_000).rounded(.up)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            if descriptors[1].revents != 0, errors >= 0 {
                let count = read(errors, &buffer, buffer.count)
                if count > 0 { stderrTail = Array((stderrTail + buffer[0..<count]).suffix(2048)) } else if count == 0 { close(errors); errors = -1 }
            }
            if descriptors[0].revents != 0 {
                let count = read(output, &buffer, buffer.count)
                if count > 0 {
                    pending += buffer[0..<count]
                    received += count
                    // Notifications and other chatter count too: the limit bounds the exchange.
                    guard received <= maxBytes * 2 else { throw .tooLarge(bytes: maxBytes) }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    throw exited("ended")
                }
            }
        }
    }

    /// Waits for `descriptor` until the deadline; false when interrupted.
    private func wait(_ descriptor: inout pollfd) throws(MCPClientError) -> Bool {
        let remaining = deadline - .now
        guard remaining > .zero else { throw .timedOut(seconds: timeoutSeconds) }
        return poll(&descriptor, 1, Int32(min(remaining.milliseconds + 1, 60_000).rounded(.up))) > 0
    }

    /// The server process went away: how it ended and the end of its stderr.
    private mutating func exited(_ what: String) -> MCPClientError {
        var status: Int32 = 0
        var how = ""
        for _ in 0..<100 {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                pid = 0
                how = status & 0x7F == 0 ? " with status \((status >> 8) & 0xFF)" : " on signal \(status & 0x7F)"
                break
            }
            usleep(5_000)
        }
        if errors >= 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(errors, &buffer, buffer.count)
            if count > 0 { stderrTail = Array((stderrTail + buffer[0..<count]).suffix(2048)) }
        }
        let said = String(decoding: stderrTail, as: UTF8.self).split(separator: "\n").suffix(5).joined(separator: " | ")
        return .unreachable("the server process \(what)\(how)" + (said.isEmpty ? "" : ": \(said)"))
    }
}
