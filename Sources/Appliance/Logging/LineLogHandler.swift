import Glibc
import Logging
import Synchronization

/// Writes one line per log event to standard error: a JSON object (`log.format = "json"`, for
/// journald and log shippers) or a short text line (for people at a terminal).
struct LineLogHandler: LogHandler {
    enum Format: String { case json, text }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    private static let outputLock = Mutex(())

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        // Hummingbird's own request counter duplicates our request_id.
        merged.removeValue(forKey: "hb.request.id")
        let line = format == .json
            ? jsonLine(level: event.level, message: "\(event.message)", metadata: merged)
            : textLine(level: event.level, message: "\(event.message)", metadata: merged)
        Self.outputLock.withLock { _ in writeStandardError(line) }
    }

    private func jsonLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var fields = [
            "\"ts\":\(Self.quoted(Self.timestamp()))",
            "\"level\":\(Self.quoted(level.rawValue))",
            "\"msg\":\(Self.quoted(message))",
            "\"logger\":\(Self.quoted(label))",
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append("\(Self.quoted(key)):\(Self.quoted("\(value)"))")
        }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    private func textLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(Self.timestamp()) \(level.rawValue.uppercased()) \(message)\(pairs.isEmpty ? "" : " " + pairs)\n"
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
