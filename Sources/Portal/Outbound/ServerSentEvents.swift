/// The `data` of complete server-sent events (`text/event-stream`): what a model server
/// streams (`ChatModel`) and what an MCP server answers (`MCPClient`).
enum ServerSentEvents {
    /// Removes every complete event from the front of `buffer` and returns the data of those
    /// that have any (`data:` lines joined by newlines; comments, `event:`, `id:`, `retry:`
    /// skipped). A partial event stays in the buffer for the next piece.
    static func take(_ buffer: inout [UInt8]) -> [String] {
        var events: [String] = []
        var data: [String] = []
        var consumed = 0
        var lineStart = 0
        var index = 0
        while index < buffer.count {
            guard buffer[index] == 0x0A else { index += 1; continue }
            var line = buffer[lineStart..<index]
            if line.last == 0x0D { line = line.dropLast() }
            index += 1
            lineStart = index
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data = []
                consumed = index
            } else if line.starts(with: Array("data:".utf8)) {
                var value = line.dropFirst(5)
                if value.first == 0x20 { value = value.dropFirst() }
                data.append(String(decoding: value, as: UTF8.self))
            }
        }
        buffer.removeFirst(consumed)
        return events
    }
}
