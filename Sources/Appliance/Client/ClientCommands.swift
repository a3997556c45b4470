import ArgumentParser
import FoundationEssentials
import Glibc
import Portal

/// `portal login URL`: checks an API key against a portal and stores both for the other
/// client commands.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Store a portal's URL and an API key for the client commands (tools, runs, approvals, audit --remote).",
        discussion: "Reads the key from --token or, without it, from the first line of standard input (so it stays out of the shell's history). "
            + "The key is checked with GET /api/me, then written to ~/.config/portal/credentials with mode 0600. PORTAL_URL and PORTAL_TOKEN, when set, are used instead of the file."
    )

    @Argument(help: "The portal's URL, e.g. https://portal.example.com") var url: String
    @Option(help: "The API key (pk_…). Default: read from standard input.") var token: String?

    func run() async throws {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("the URL must start with http:// or https://") }
        guard let key = (token ?? readLine(strippingNewline: true))?.filter({ !$0.isWhitespace }), key.hasPrefix("pk_") else {
            throw ValidationError("an API key starts with pk_ (create one on the portal's API keys page)")
        }
        let remote = RemotePortal(baseURL: url, token: key)
        let me = try await remote.call("GET", "/api/v1/me")
        try ClientCredentials(url: remote.baseURL, token: key).save()
        let organization = me["organizations"]?.array?.first { $0["id"] == me["currentOrganization"] }
        print("Logged in to \(remote.baseURL) as \(me["user"]?["username"]?.string ?? "?")"
            + (organization.map { " in \($0["displayName"]?.string ?? "?") (\($0["role"]?.string ?? "?"))" } ?? "")
            + "; the key is stored in \(ClientCredentials.path)")
    }
}

/// Output choice shared by the client commands.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the API's JSON (for scripts) instead of a table.") var json = false
}

/// `portal tools …`
struct ToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tools", abstract: "The remote portal's tool catalog (see `portal login`).",
                                                    subcommands: [ToolsListCommand.self, ToolsShowCommand.self, ToolsRunCommand.self])
}

struct ToolsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The tools you may see.")
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let answer = try await RemotePortal.fromCredentials().call("GET", "/api/v1/tools")
        if output.json { return print(jsonText(answer["tools"] ?? .array([]), pretty: false)) }
        printTable(["NAME", "RISK", "RUN", "TITLE"], (answer["tools"]?.array ?? []).map {
            [$0["name"]?.string ?? "", $0["risk"]?.string ?? "", $0["canRun"]?.bool == true ? "yes" : "no", $0["title"]?.string ?? ""]
        })
    }
}

struct ToolsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One tool: what it does, its risk and its input fields.")
    @Argument(help: "The tool's name, e.g. host.disk-usage") var name: String
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let tool = try await RemotePortal.fromCredentials().call("GET", "/api/v1/tools/\(OutboundHTTP.pathSegmentEncode(name))")
        if output.json { return print(jsonText(tool, pretty: false)) }
        print("\(tool["title"]?.string ?? name) (\(name)), \(tool["risk"]?.string ?? "?") risk\(tool["needsApproval"]?.bool == true ? ", runs after an approval" : "")")
        if let description = tool["description"]?.string { print(description) }
        let required = Set(tool["inputSchema"]?["required"]?.strings ?? [])
        let fields = (tool["inputSchema"]?["properties"]?.object ?? [:]).sorted { $0.key < $1.key }
        if fields.isEmpty { return print("Input: none.") }
        print("Input (--input name=value):")
        printTable(["FIELD", "TYPE", "REQUIRED", "DESCRIPTION"], fields.map { name, property in
            [name, property["type"]?.string ?? "string", required.contains(name) ? "yes" : "", property["description"]?.string ?? property["title"]?.string ?? ""]
        })
    }
}

struct ToolsRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a tool and wait for its result.",
        discussion: "Exit codes: 0 the run succeeded (or, with --no-wait, was accepted); 1 it failed, was rejected, expired or was interrupted; "
            + "3 the portal could not be reached; 4 the portal refused (bad input, not allowed); 5 the portal failed (5xx); 6 not logged in; "
            + "7 --timeout passed before the run ended (it goes on); 64 a wrong command line. "
            + "A run that needs an approval is waited for too (up to --timeout); the approver decides in the portal or with `portal approvals approve`."
    )
    @Argument(help: "The tool's name.") var name: String
    @Option(name: .customLong("input"), parsing: .singleValue, help: "A field as name=value (repeat for more); numbers and booleans are typed from the tool's schema.")
    var fields: [String] = []
    @Option(name: .customLong("input-json"), help: "The whole input as a JSON object (fields from --input are added to it).") var inputJSON: String?
    @Flag(help: "Print the run's id and return once it is accepted.") var noWait = false
    @Option(help: "Give up waiting after this many seconds (exit 7; the run goes on in the portal).") var timeout: Int = 600
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let remote = try RemotePortal.fromCredentials()
        let tool = try await remote.call("GET", "/api/v1/tools/\(OutboundHTTP.pathSegmentEncode(name))")
        var input = try inputJSON.map { text -> [String: JSONAny] in
            guard let object = JSONAny(json: Array(text.utf8))?.object else { throw ValidationError("--input-json must be a JSON object") }
            return object
        } ?? [:]
        let properties = tool["inputSchema"]?["properties"]?.object ?? [:]
        for field in fields {
            guard let equals = field.firstIndex(of: "=") else { throw ValidationError("--input takes name=value, not \(field)") }
            let key = String(field[..<equals]), text = String(field[field.index(after: equals)...])
            input[key] = Self.typed(text, as: properties[key]?["type"]?.string)
        }
        let run = try await remote.call("POST", "/api/v1/tools/\(OutboundHTTP.pathSegmentEncode(name))/runs", body: .object(["input": .object(input)]),
                                        idempotencyKey: UUID().uuidString.lowercased())
        guard let id = run["id"]?.string else { throw ExitCode(RemotePortal.Exit.serverFailed.rawValue) }
        if noWait {
            if output.json { return print(jsonText(run, pretty: false)) }
            return print("run \(id): \(run["status"]?.string ?? "?")")
        }
        if run["status"]?.string == "pending-approval" && !output.json { printError("run \(id): waiting for approval…") }
        try await RunsWatchCommand.watch(id, remote: remote, timeout: timeout, json: output.json)
    }

    /// A command-line value as the schema's type asks: 42 for an integer, true for a boolean.
    static func typed(_ text: String, as type: String?) -> JSONAny {
        switch type {
        case "integer", "number": Double(text).flatMap { $0.isFinite ? JSONAny.number($0) : nil } ?? .string(text)
        case "boolean": text == "true" ? .bool(true) : text == "false" ? .bool(false) : .string(text)
        default: .string(text)
        }
    }
}

/// `portal runs …`
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "Runs on the remote portal (see `portal login`).",
                                                    subcommands: [RunsListCommand.self, RunsShowCommand.self, RunsWatchCommand.self, RunsCancelCommand.self])
}

struct RunsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Recent runs in your organization, newest first.")
    @Option(help: "Only this tool's runs.") var tool: String?
    @Option(help: "Only runs with this status (succeeded, failed, rejected, expired, interrupted, pending-approval, running).") var status: String?
    @Option(help: "At most this many, newest first (pages of up to 200 are followed).") var limit: Int = 20
    @OptionGroup var output: OutputOptions

    func run() async throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1.") }
        var query = ["limit=\(min(limit, 200))"]
        if let tool { query.append("tool=\(OutboundHTTP.formEncode(tool))") }
        if let status { query.append("status=\(OutboundHTTP.formEncode(status))") }
        let remote = try RemotePortal.fromCredentials()
        var runs: [JSONAny] = []
        var next: String? = "/api/v1/runs?" + query.joined(separator: "&")
        // Each page's `next` link is the way to the one after it.
        while let link = next, runs.count < limit {
            let page = try await remote.call("GET", link)
            runs += page["runs"]?.array ?? []
            next = page["next"]?.string
        }
        runs = Array(runs.prefix(limit))
        if output.json { return print(jsonText(.array(runs), pretty: false)) }
        printTable(["ID", "STATUS", "TOOL", "BY", "CREATED"], runs.map {
            [$0["id"]?.string ?? "", $0["status"]?.string ?? "", $0["tool"]?.string ?? "", $0["requester"]?.string ?? "", $0["createdAt"]?.string ?? ""]
        })
    }
}

struct RunsShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One run: status, input, decisions and output.")
    @Argument(help: "The run's id.") var id: String
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let run = try await RemotePortal.fromCredentials().call("GET", "/api/v1/runs/\(OutboundHTTP.pathSegmentEncode(id))")
        if output.json { return print(jsonText(run, pretty: false)) }
        RunsWatchCommand.describe(run)
    }
}

struct RunsCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Withdraw a run that waits for approval (yours, or any if you decide approvals).")
    @Argument(help: "The run's id.") var id: String
    @Option(help: "Why, for the audit trail.") var reason: String = ""
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let run = try await RemotePortal.fromCredentials().call("POST", "/api/v1/runs/\(OutboundHTTP.pathSegmentEncode(id))/cancel",
                                                                body: .object(["reason": .string(reason)]))
        if output.json { return print(jsonText(run, pretty: false)) }
        RunsWatchCommand.describe(run)
    }
}

struct RunsWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Wait until a run is final and print it; exit 0 only if it succeeded.")
    @Argument(help: "The run's id.") var id: String
    @Option(help: "Give up after this many seconds (exit 7; the run goes on).") var timeout: Int = 600
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Self.watch(id, remote: try RemotePortal.fromCredentials(), timeout: timeout, json: output.json)
    }

    static let finalStatuses: Set<String> = ["succeeded", "failed", "rejected", "expired", "interrupted", "cancelled"]

    /// Long-polls the run (the portal answers when it is final, or after 20 s) until it is final.
    static func watch(_ id: String, remote: RemotePortal, timeout: Int, json: Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(max(timeout, 1))
        var run: JSONAny = .null
        repeat {
            let wait = max(1, min(20, Int((deadline - ContinuousClock.now).components.seconds)))
            run = try await remote.call("GET", "/api/v1/runs/\(OutboundHTTP.pathSegmentEncode(id))?wait=\(wait)")
        } while !finalStatuses.contains(run["status"]?.string ?? "") && ContinuousClock.now < deadline
        if json { print(jsonText(run, pretty: false)) } else { describe(run) }
        guard let status = run["status"]?.string, finalStatuses.contains(status) else { throw ExitCode(RemotePortal.Exit.stillRunning.rawValue) }
        guard status == "succeeded" else { throw ExitCode(RemotePortal.Exit.runDidNotSucceed.rawValue) }
    }

    static func describe(_ run: JSONAny) {
        print("run \(run["id"]?.string ?? "?"): \(run["tool"]?.string ?? "?") \(run["status"]?.string ?? "?") (requested by \(run["requester"]?.string ?? "?"))")
        for decision in run["decisions"]?.array ?? [] {
            print("  \(decision["approve"]?.bool == true ? "approved" : "rejected") by \(decision["username"]?.string ?? "?")"
                + (decision["comment"]?.string.map { $0.isEmpty ? "" : ": \($0)" } ?? ""))
        }
        if let error = run["output"]?["error"]?.string { print("error: \(error)") }
        if let output = run["output"]?["json"], output != .null { print(jsonText(output)) } else if let text = run["output"]?["text"]?.string { print(text) }
    }
}

/// `portal approvals …`
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approvals", abstract: "Runs waiting for a decision on the remote portal (see `portal login`).",
                                                    subcommands: [ApprovalsListCommand.self, ApproveCommand.self, RejectCommand.self])
}

struct ApprovalsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Runs waiting for your decision.")
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let approvals = try await RemotePortal.fromCredentials().call("GET", "/api/v1/approvals")["approvals"]?.array ?? []
        if output.json { return print(jsonText(.array(approvals), pretty: false)) }
        printTable(["ID", "TOOL", "RISK", "BY", "INPUT"], approvals.map {
            [$0["id"]?.string ?? "", $0["tool"]?.string ?? "", $0["risk"]?.string ?? "", $0["requester"]?.string ?? "", jsonText($0["input"] ?? .null, pretty: false)]
        })
    }
}

/// A decision on a run, with an optional comment.
struct DecisionOptions: ParsableArguments {
    @Argument(help: "The run's id.") var id: String
    @Option(help: "Why (kept in the audit trail).") var comment: String = ""

    func decide(_ approve: Bool) async throws {
        let run = try await RemotePortal.fromCredentials().call("POST", "/api/v1/approvals/\(OutboundHTTP.pathSegmentEncode(id))/decision",
                                                               body: .object(["approve": .bool(approve), "comment": .string(comment)]))
        print("run \(id): \(run["status"]?.string ?? (approve ? "approved" : "rejected"))")
    }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Approve a run.")
    @OptionGroup var decision: DecisionOptions
    func run() async throws { try await decision.decide(true) }
}

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reject", abstract: "Reject a run.")
    @OptionGroup var decision: DecisionOptions
    func run() async throws { try await decision.decide(false) }
}
