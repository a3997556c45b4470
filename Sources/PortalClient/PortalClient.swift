public import Foundation
public import OpenAPIRuntime
public import OpenAPIAsyncHTTPClient
public import HTTPTypes

/// A client for the portal's API v1: `api` is the client generated from the v1 OpenAPI
/// document (every operation, typed), and the methods here are the common flows on top of it —
/// run a tool and wait for its end, page through runs, decide an approval.
///
/// Guarantees: every request carries the API key as a bearer token; a tool run is requested
/// with an `Idempotency-Key`, so `runTool` may be retried after a network failure without
/// running the tool twice; refusals throw `PortalAPIError` with the portal's problem details.
public struct PortalClient: Sendable {
    public typealias Run = Components.Schemas.Run

    /// The generated client: every v1 operation.
    public let api: Client

    /// - Parameters:
    ///   - serverURL: the portal's address, e.g. `https://portal.example.com`.
    ///   - apiKey: an API key (`pk_…`).
    public init(serverURL: URL, apiKey: String, transport: any ClientTransport = AsyncHTTPClientTransport()) {
        api = Client(serverURL: serverURL, transport: transport, middlewares: [BearerToken(token: apiKey)])
    }

    /// The statuses a run does not leave.
    public static let finalStatuses: Set<String> = ["succeeded", "failed", "rejected", "expired", "interrupted", "cancelled"]

    /// Runs a tool and waits until the run is final or `timeout` passes (a run that needs an
    /// approval waits for it), and returns the run as it is then. `input` is the tool's input
    /// as JSON values (strings, numbers, booleans, arrays, dictionaries).
    public func runTool(_ name: String, input: [String: (any Sendable)?] = [:], timeout: Duration = .seconds(600),
                        idempotencyKey: String = UUID().uuidString.lowercased()) async throws -> Run {
        let body = Operations.RunTool.Input.Body.json(.init(input: try OpenAPIValueContainer(unvalidatedValue: input)))
        let run: Run
        switch try await api.runTool(path: .init(name: name), headers: .init(idempotencyKey: idempotencyKey), body: body) {
        case let .created(created): run = try created.body.json
        case let .accepted(accepted): run = try accepted.body.json
        case let .default(status, problem): throw PortalAPIError(status, problem)
        }
        return try await waitForRun(run, timeout: timeout)
    }

    /// The run `id` once it is final, or as it is when `timeout` passes.
    public func waitForRun(id: String, timeout: Duration = .seconds(600)) async throws -> Run {
        try await waitForRun(try await getRun(id, wait: 0), timeout: timeout)
    }

    private func waitForRun(_ run: Run, timeout: Duration) async throws -> Run {
        var run = run
        let deadline = ContinuousClock.now + timeout
        // The portal holds each request until the run is final or up to 30 s: no polling loop.
        while !Self.finalStatuses.contains(run.status) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            run = try await getRun(run.id, wait: Int(min(30, max(1, left.components.seconds))))
        }
        return run
    }

    /// One run; with `wait`, the portal answers when it is final or after that many seconds (at most 30).
    public func getRun(_ id: String, wait: Int = 0) async throws -> Run {
        switch try await api.getRun(path: .init(id: id), query: .init(wait: wait)) {
        case let .ok(ok): return try ok.body.json
        case let .default(status, problem): throw PortalAPIError(status, problem)
        }
    }

    /// Every run that matches, newest first, fetched a page at a time as the sequence is read
    /// (following each page's `next` link).
    public func runs(tool: String? = nil, person: String? = nil, status: Operations.ListRuns.Input.Query.StatusPayload? = nil,
                     pageSize: Int = 50) -> AsyncThrowingStream<Run, any Error> {
        let api = api
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var cursor: String?
                    repeat {
                        let page: Operations.ListRuns.Output.Ok.Body.JsonPayload
                        switch try await api.listRuns(query: .init(limit: pageSize, cursor: cursor, tool: tool, person: person, status: status)) {
                        case let .ok(ok): page = try ok.body.json
                        case let .default(code, problem): throw PortalAPIError(code, problem)
                        }
                        for run in page.runs { continuation.yield(run) }
                        cursor = page.next.flatMap(Self.cursor(inLink:))
                    } while cursor != nil && !Task.isCancelled
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The runs waiting for a decision that this key may decide on.
    public func pendingApprovals() async throws -> [Run] {
        switch try await api.listApprovals() {
        case let .ok(ok): return try ok.body.json.approvals
        case let .default(status, problem): throw PortalAPIError(status, problem)
        }
    }

    /// Approves or rejects a waiting run; returns the run after the decision.
    public func decide(runID: String, approve: Bool, comment: String = "") async throws -> Run {
        switch try await api.decideApproval(path: .init(id: runID), body: .json(.init(approve: approve, comment: comment))) {
        case let .ok(ok): return try ok.body.json
        case let .default(status, problem): throw PortalAPIError(status, problem)
        }
    }

    /// Withdraws a run that waits for approval; a run that is executing cannot be stopped (409).
    public func cancel(runID: String, reason: String = "") async throws -> Run {
        switch try await api.cancelRun(path: .init(id: runID), body: .json(.init(reason: reason))) {
        case let .ok(ok): return try ok.body.json
        case let .default(status, problem): throw PortalAPIError(status, problem)
        }
    }

    /// The `cursor` of a `next` link.
    static func cursor(inLink link: String) -> String? {
        URLComponents(string: link)?.queryItems?.first { $0.name == "cursor" }?.value
    }
}

/// The portal refused or failed a request: its status and problem details.
public struct PortalAPIError: Error, CustomStringConvertible {
    public let status: Int
    public let problem: Components.Schemas.Problem?

    /// A documented refusal: its problem-details body, when it is one.
    init(_ status: Int, _ response: Components.Responses.Problem) {
        self.init(status: status, problem: try? response.body.applicationProblemJson)
    }

    public init(status: Int, problem: Components.Schemas.Problem?) {
        self.status = status
        self.problem = problem
    }

    /// The problem's type (`/#/api/problems/<slug>`), what a program branches on.
    public var type: String? { problem?._type }

    public var description: String {
        "HTTP \(status): \(problem?.detail ?? problem?.title ?? "no details")"
    }
}

/// Sends the API key on every request.
struct BearerToken: ClientMiddleware {
    let token: String

    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}
