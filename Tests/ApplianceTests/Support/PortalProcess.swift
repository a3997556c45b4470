import Foundation
import Testing

/// The real `portal` binary run as a child process on a free loopback port (`--port 0`) with a
/// temporary data directory. Output is collected as it arrives; waits are for a line to appear,
/// with a deadline, never fixed sleeps.
final class PortalProcess: @unchecked Sendable {
    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["PORTAL_BINARY"] { return path }
        // Tests/ApplianceTests/Support/PortalProcess.swift → package root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/portal").path
    }

    let process = Process()
    let dataDirectory: String
    let standardOutput = OutputCollector()
    let standardError = OutputCollector()
    private(set) var port = 0

    /// Starts `portal serve` and waits until it prints the URL it serves on.
    init(dataDirectory: String? = nil, arguments: [String] = [], environment: [String: String] = [:]) throws {
        self.dataDirectory = dataDirectory ?? TemporaryDirectory.make() + "/data"
        try start(["serve", "--port", "0", "--data-dir", self.dataDirectory] + arguments, environment: ["PORTAL_LOG_FORMAT": "json"].merging(environment) { _, new in new })
        let line = try standardOutput.waitForLine(containing: "Portal is serving on", timeout: .seconds(60))
        guard let portText = line.split(separator: ":").last?.split(separator: "/").first, let port = Int(portText) else {
            throw ProcessFailure("no port in banner line: \(line)")
        }
        self.port = port
    }

    private func start(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: Self.binaryPath)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PORTAL_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        // Run where no portal.toml lies about, so only the test's configuration applies.
        process.currentDirectoryURL = URL(fileURLWithPath: dataDirectoryParent)
        process.standardOutput = standardOutput.pipe
        process.standardError = standardError.pipe
        try process.run()
    }

    private var dataDirectoryParent: String {
        URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status; kills it after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) -> Int32 {
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            self.process.waitUntilExit()
            exited.signal()
        }
        let seconds = Double(timeout.components.seconds)
        if exited.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            Issue.record("portal did not exit within \(timeout); killed it")
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Runs a command that should end by itself (`version`, `config`, a refused `serve`) and
    /// returns its outcome; one still running after `timeout` is killed and recorded as an issue.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, timeout: Duration = .seconds(30)
    ) throws -> (status: Int32, output: String, error: String) {
        let child = PortalProcess(directory: directory ?? TemporaryDirectory.make())
        try child.start(arguments, environment: environment)
        let status = child.waitForExit(timeout: timeout)
        try child.standardOutput.waitForEnd(timeout: .seconds(5))
        try child.standardError.waitForEnd(timeout: .seconds(5))
        return (status, child.standardOutput.contents, child.standardError.contents)
    }

    /// Starts a long-running command other than `serve` (a load generator); no banner is awaited.
    init(running arguments: [String]) throws {
        self.dataDirectory = TemporaryDirectory.make() + "/data"
        try start(arguments, environment: [:])
    }

    /// A process not started yet, run in `directory`.
    private init(directory: String) {
        self.dataDirectory = directory + "/data"
    }
}

/// Accumulates what a pipe delivers and lets a test wait until a line containing some text arrives.
final class OutputCollector: @unchecked Sendable {
    let pipe = Pipe()
    private let condition = NSCondition()
    private var text = ""
    private var ended = false

    init() {
        // A thread of its own doing blocking reads until end of file: simpler and more reliable
        // than readabilityHandler, whose end-of-file delivery varies.
        let descriptor = pipe.fileHandleForReading.fileDescriptor
        let reader = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                condition.lock()
                if count <= 0 {
                    ended = true
                } else {
                    text += String(decoding: buffer[..<count], as: UTF8.self)
                }
                condition.broadcast()
                condition.unlock()
                if count <= 0 { return }
            }
        }
        reader.start()
    }

    var contents: String {
        condition.lock()
        defer { condition.unlock() }
        return text
    }

    /// Call after the process exited: closes this process's copy of the pipe's write end (the
    /// child had the other) and waits for the end of the data, so `contents` is complete.
    func waitForEnd(timeout: Duration) throws {
        try? pipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while !ended {
            if !condition.wait(until: deadline) { throw ProcessFailure("output did not end within \(timeout)") }
        }
    }

    /// Waits until `count` complete lines starting with `prefix` have arrived.
    func waitForLines(prefix: String, count: Int, timeout: Duration) throws {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter({ $0.hasPrefix(prefix) }).count < count {
            if ended || !condition.wait(until: deadline) {
                throw ProcessFailure("fewer than \(count) lines starting with \"\(prefix)\"; output so far:\n\(text.suffix(2000))")
            }
        }
    }

    /// The first complete line containing `needle`, waiting up to `timeout` for it.
    @discardableResult
    func waitForLine(containing needle: String, after previous: Int = 0, timeout: Duration) throws -> String {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        while true {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            if let line = lines.dropFirst(previous).first(where: { $0.contains(needle) }) { return String(line) }
            if !condition.wait(until: deadline) {
                throw ProcessFailure("no line containing \"\(needle)\" within \(timeout); output so far:\n\(text)")
            }
        }
    }
}

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum TemporaryDirectory {
    /// A new empty directory under the system's temporary directory.
    static func make() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("portal-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
