import Glibc

/// Writes a line to standard error, unbuffered.
func printError(_ message: String) {
    writeStandardError(message + "\n")
}

/// Writes `text` to file descriptor 2 in full. (`stderr`, the C global, is not concurrency-safe in Swift 6.)
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}

/// The process environment as a dictionary.
func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let pair = String(cString: entry)
        if let equals = pair.firstIndex(of: "=") {
            result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

/// `value` rounded to `places` decimals, for reports.
func rounded(_ value: Double, places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let result = (value * scale).rounded() / scale
    return places == 0 ? "\(Int(result))" : "\(result)"
}
