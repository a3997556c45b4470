import FoundationEssentials

/// An `http` step's settings: a request the portal sends itself (no tool), with expressions in
/// the URL, the header values and the body.
///
/// Guarantees: the URL reaches only what webhooks may reach (`WebhookTargets`: no loopback,
/// private, link-local or metadata address unless `webhooks.allowed_networks` allows it; the
/// name is resolved and the connection pinned to the checked address); redirects are answers,
/// never followed; the answer is read up to `maxResponseBytes`. Credentials do not belong
/// here — the definition is readable by everyone who sees the organization's workflows — but in
/// an HTTP tool, whose sealed secrets a `tool` step uses.
public struct HTTPRequestStep: Sendable, Equatable {
    public var method: String
    public var url: ValueTemplate
    public var headers: [String: ValueTemplate]
    public var body: ValueTemplate?
    /// The statuses that count as success; empty: any 2xx.
    public var expectStatus: [Int]
    public var maxResponseBytes: Int

    public static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    /// Headers the client sets itself, or that would change how the request is framed.
    static let reservedHeaders: Set<String> = ["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive", "proxy-connection", "trailer"]
    static let responseLimit = 10 << 20

    /// Whether sending it twice is as sending it once (RFC 9110 §9.2.2): after a crash in the
    /// middle such a step is sent again; a POST or PATCH stops the run for a person to decide.
    public var isIdempotent: Bool { ["GET", "HEAD", "PUT", "DELETE"].contains(method) }

    init(_ config: [String: JSONAny], problem: (String, String) -> WorkflowProblem) throws(WorkflowProblem) {
        method = (config["method"]?.string ?? "GET").uppercased()
        guard Self.methods.contains(method) else { throw problem("method", "must be one of \(Self.methods.joined(separator: ", "))") }
        guard let url = config["url"]?.string, !url.isEmpty, url.utf8.count <= 2048 else { throw problem("url", "is required (text, at most 2048 characters)") }
        self.url = ValueTemplate(.string(url))
        if !url.contains("{{") {
            do { _ = try WebhookTargets().parse(url) } catch { throw problem("url", Workflows.describe(error)) }
        }
        var headers: [String: ValueTemplate] = [:]
        let given = config["headers"]?.object ?? [:]
        guard given.count <= 20 else { throw problem("headers", "at most 20 headers") }
        for (name, value) in given {
            guard Self.isToken(name) else { throw problem("headers.\(name)", "is not a header name (letters, digits and !#$%&'*+-.^_`|~)") }
            guard !Self.reservedHeaders.contains(name.lowercased()) else { throw problem("headers.\(name)", "is set by the portal") }
            guard let text = value.string, text.utf8.count <= 4096 else { throw problem("headers.\(name)", "must be text of at most 4096 characters") }
            headers[name] = ValueTemplate(.string(text))
        }
        self.headers = headers
        body = config["body"].flatMap { $0 == .null ? nil : ValueTemplate($0) }
        if body != nil, ["GET", "HEAD"].contains(method) { throw problem("body", "a \(method) request has no body") }
        if let raw = config["expectStatus"], raw != .null {
            guard let list = raw.array, (1...20).contains(list.count), list.allSatisfy({ ($0.integer).map { (100...599).contains($0) } ?? false }) else {
                throw problem("expectStatus", "must list 1 to 20 statuses from 100 to 599")
            }
            expectStatus = list.compactMap(\.integer)
        } else {
            expectStatus = []
        }
        if let raw = config["maxResponseBytes"], raw != .null {
            guard let value = raw.integer, (1...Self.responseLimit).contains(value) else { throw problem("maxResponseBytes", "must be a whole number from 1 to \(Self.responseLimit)") }
            maxResponseBytes = value
        } else {
            maxResponseBytes = 1 << 20
        }
        for (field, template) in templates {
            do { _ = try template.expressions() } catch { throw problem(field, error.description) }
        }
    }

    var templates: [(String, ValueTemplate)] {
        [("url", url)] + headers.sorted { $0.key < $1.key }.map { ("headers.\($0.key)", $0.value) } + (body.map { [("body", $0)] } ?? [])
    }

    /// The request with every expression evaluated: what the step records as its input and
    /// then sends.
    func render(_ scope: [String: JSONAny]) throws(ExpressionError) -> Rendered {
        var rendered: [String: String] = [:]
        for (name, template) in headers { rendered[name] = try template.render(scope).templateText }
        return Rendered(method: method, url: try url.render(scope).templateText, headers: rendered, body: try body?.render(scope))
    }

    /// One request as it is sent.
    struct Rendered: Codable, Sendable {
        let method: String
        let url: String
        let headers: [String: String]
        let body: JSONAny?

        /// A string body goes as it is (with its own Content-Type, text/plain otherwise); any
        /// other value as JSON.
        var encoded: (bytes: [UInt8], contentType: String)? {
            guard let body else { return nil }
            if case let .string(text) = body { return (Array(text.utf8), "text/plain; charset=utf-8") }
            return (body.canonicalJSON, "application/json")
        }
    }

    /// RFC 9110 token characters.
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100 && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar))
        }
    }
}
