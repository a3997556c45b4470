import ArgumentParser
import FoundationEssentials
import Glibc
import Portal

/// A portal elsewhere, called with an API key (`Authorization: Bearer pk_…`) by the
/// command-line client. Guarantees: the key goes only to the configured URL (redirects are not
/// followed), is never printed, and every failure becomes one of the client's exit codes.
struct RemotePortal {
    let baseURL: String
    let token: String
    var http = OutboundHTTP()

    /// What scripts can rely on: the exit code says which kind of failure it was.
    enum Exit: Int32 {
        /// A run the command waited for ended other than `succeeded`.
        case runDidNotSucceed = 1
        /// The portal could not be reached (connection, timeout, TLS).
        case unreachable = 3
        /// The portal refused: bad input, not signed in, not allowed, not found (4xx).
        case refused = 4
        /// The portal failed (5xx) or answered something that is not its API.
        case serverFailed = 5
        /// No credentials: run `portal login` or set PORTAL_URL and PORTAL_TOKEN.
        case notLoggedIn = 6
        /// The wait for a run ended (`--timeout`) before the run did; it goes on in the portal.
        case stillRunning = 7
    }

    init(baseURL: String, token: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        http.timeout = .seconds(40)  // a run's wait answers within 30 s
    }

    /// The credentials `portal login` stored, or PORTAL_URL and PORTAL_TOKEN (which win).
    static func fromCredentials() throws -> RemotePortal {
        let environment = currentEnvironment()
        if let url = environment["PORTAL_URL"], let token = environment["PORTAL_TOKEN"], !url.isEmpty, !token.isEmpty {
            return RemotePortal(baseURL: url, token: token)
        }
        guard let stored = ClientCredentials.load() else {
            printError("portal: not logged in: run `portal login URL`, or set PORTAL_URL and PORTAL_TOKEN")
            throw ExitCode(Exit.notLoggedIn.rawValue)
        }
        return RemotePortal(baseURL: stored.url, token: stored.token)
    }

    /// Calls `path` (below the portal's URL) and returns the JSON answer of a 2xx. Any other
    /// answer prints the portal's problem detail and exits with the matching code.
    /// One API call. With `idempotencyKey` (a creation), a request that may not have reached
    /// the portal is sent again with the same key, which the portal answers at most once.
    func call(_ method: String, _ path: String, body: JSONAny? = nil, idempotencyKey: String? = nil) async throws -> JSONAny {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        var bytes: [UInt8]?
        if let body {
            let encoder = JSONEncoder()
            bytes = Array(try encoder.encode(body))
            headers.append(("Content-Type", "application/json"))
        }
        let response: OutboundHTTP.Response
        var attempt = 1
        while true {
            do {
                response = try await http.send(url: baseURL + path, method: method, headers: headers, body: bytes)
                break
            } catch where idempotencyKey != nil && attempt < 3 {
                try await Task.sleep(for: .milliseconds(500 * attempt))
                attempt += 1
            } catch {
                printError("portal: \(error)")
                throw ExitCode(Exit.unreachable.rawValue)
            }
        }
        let json = JSONAny(json: response.body)
        guard (200..<300).contains(response.status) else {
            let detail = json?["detail"]?.string ?? json?["title"]?.string ?? "HTTP \(response.status)"
            printError("portal: \(method) \(path): \(response.status): \(detail)")
            throw ExitCode((400..<500).contains(response.status) ? Exit.refused.rawValue : Exit.serverFailed.rawValue)
        }
        if response.body.isEmpty { return .null }
        guard let json else {
            printError("portal: \(method) \(path): the answer is not JSON (is \(baseURL) a portal?)")
            throw ExitCode(Exit.serverFailed.rawValue)
        }
        return json
    }
}

/// `~/.config/portal/credentials` (or `$XDG_CONFIG_HOME/portal/credentials`): the URL and API
/// key `portal login` checked, readable by the owner only (0600, in a 0700 directory).
struct ClientCredentials: Codable {
    let url: String
    let token: String

    static var path: String {
        let environment = currentEnvironment()
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? ".") + "/.config")
        return base + "/portal/credentials"
    }

    static func load() -> ClientCredentials? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ClientCredentials.self, from: data)
    }

    /// Writes the file with mode 0600 from its creation (never readable by others, even briefly).
    func save() throws {
        let path = Self.path
        // Each missing directory on the way (`~/.config`, then `portal`), owner-only.
        var directory = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/").dropLast() where part != "." {
            directory += "/" + part
            _ = directory.withCString { mkdir($0, 0o700) }
        }
        let bytes = Array(try JSONEncoder().encode(self))
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return try Self.fail("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        _ = fchmod(descriptor, 0o600)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else { return try Self.fail("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    private static func fail(_ message: String) throws {
        printError("portal: " + message)
        throw ExitCode(1)
    }
}

/// Prints rows as aligned columns under a header.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        print(row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[index] - cell.count)) }
            .joined(separator: "  "))
    }
}

/// The JSON as people read it (sorted keys, indented), or as one line for `--json`.
func jsonText(_ value: JSONAny, pretty: Bool = true) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
}
