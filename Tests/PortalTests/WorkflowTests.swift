import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// The workflow engine: every step type, joins, loops, retries, timeouts, approvals, the
/// operations on runs, versions, and what a restart does to unfinished runs.
@Suite struct WorkflowTests {
    /// A portal with an organization, an operator (who starts runs), two admins and a test
    /// pack `wf` whose command tool records what it did in `state`.
    struct World {
        let core: PortalCore
        let directory: String
        let state: String
        let organization: Organization
        let operator_: Principal
        let admin: Principal
        let secondAdmin: Principal
        let services: RunningServices

        /// `clock`: the portal's time of day (a `ManualClock` moves expiries by hand);
        /// `allowLoopback`: HTTP steps may reach 127.0.0.0/8 (a test server there).
        init(directory: String? = nil, clock: any WallClock = SystemClock(), allowLoopback: Bool = false) async throws {
            let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("portal-wf-\(UUID().uuidString)").path
            self.directory = directory
            state = directory + "-state"
            let bin = directory + "-bin"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            let script = """
            #!/bin/sh
            S='\(state)'
            case "$1" in
              echo) printf '{"text":"%s"}\\n' "$2" ;;
              percent) printf '{"percent":%s}\\n' "$2" ;;
              fail) echo "broken: $2" >&2; exit 3 ;;
              flaky) f="$S/flaky-$2"; n=$(/bin/cat "$f" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$f"
                     if [ $n -lt "$3" ]; then echo "attempt $n failed" >&2; exit 1; fi; printf '{"attempts":%s}\\n' $n ;;
              change) echo "$2" >> "$S/changes"; printf '{"changed":"%s"}\\n' "$2" ;;
              slow) /bin/sleep "$2"; echo '{}' ;;
            esac
            """
            FileManager.default.createFile(atPath: bin + "/wf-tool", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
            var options = ToolRuntimeOptions(workRoot: directory + "/tool-runs")
            options.searchPath = [bin]
            options.allowedExecutables = ["wf-tool"]
            var webhooks = WebhookOptions()
            if allowLoopback { webhooks.allowedNetworks = [NetworkRange("127.0.0.0/8")!] }
            core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000), toolOptions: options,
                                        clock: clock, webhooks: webhooks)
            try await core.resumeAfterStart(defaultEmbedder: .hashing)
            services = core.startServices()
            _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
            let root = try #require(try core.accounts.user(named: "root"))
            let rootPrincipal = Principal(user: root, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
            if let existing = try core.organizations.organization(slug: "acme") {
                organization = existing
            } else {
                organization = try await core.organizations.create(slug: "acme", displayName: "Acme", by: rootPrincipal)
            }
            let organization = self.organization, core = self.core
            func member(_ name: String, _ role: Role) async throws -> Principal {
                var user = try core.accounts.user(named: name)
                if user == nil {
                    user = try await core.organizations.createMember(username: name, displayName: name.capitalized, password: "\(name)-password-1",
                                                                     role: role, in: organization.id, by: rootPrincipal)
                }
                return Principal(user: user!, organizationID: organization.id, role: role, sessionKey: nil, csrfToken: nil)
            }
            operator_ = try await member("olga", .operator)
            admin = try await member("ada", .admin)
            secondAdmin = try await member("ben", .admin)
            if try core.tools.pack(named: "wf") == nil {
                let pack = try JSONDecoder().decode(ToolPack.self, from: Data(Self.pack.utf8))
                try await core.tools.install(pack, by: Principal(user: root, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil))
                try await core.tools.setAvailability(pack: "wf", to: [organization.id], by: rootPrincipal)
                try await core.tools.setEnabled(true, pack: "wf", by: admin)
            }
        }

        static let pack = """
        {"name": "wf", "title": "Workflow test tools", "version": "1.0.0", "description": "For the tests.", "tools": [
          \(tool("echo", "read", ["text"], ["echo", "{{input.text}}"])),
          \(tool("percent", "read", ["value"], ["percent", "{{input.value}}"])),
          \(tool("fail", "read", ["why"], ["fail", "{{input.why}}"])),
          \(tool("flaky", "read", ["key", "succeedAt"], ["flaky", "{{input.key}}", "{{input.succeedAt}}"])),
          \(tool("change", "low", ["what"], ["change", "{{input.what}}"])),
          \(tool("guarded-change", "medium", ["what"], ["change", "{{input.what}}"])),
          \(tool("slow", "read", ["seconds"], ["slow", "{{input.seconds}}"]))
        ]}
        """

        static func tool(_ name: String, _ risk: String, _ fields: [String], _ arguments: [String]) -> String {
            let properties = fields.map { "\"\($0)\": {\"type\": \"string\", \"maxLength\": 200}" }.joined(separator: ", ")
            let required = fields.map { "\"\($0)\"" }.joined(separator: ", ")
            let argv = arguments.map { "\"\($0)\"" }.joined(separator: ", ")
            return """
            {"name": "wf.\(name)", "title": "\(name)", "description": "Test tool \(name).", "category": "Test", "risk": "\(risk)",
             "inputSchema": {"type": "object", "properties": {\(properties)}, "required": [\(required)], "additionalProperties": false},
             "executor": {"type": "command", "executable": "wf-tool", "arguments": [\(argv)]}}
            """
        }

        var workflows: Workflows { core.workflows }

        @discardableResult
        func save(_ json: String, by principal: Principal? = nil) async throws -> WorkflowVersion {
            try await workflows.save(try JSONDecoder().decode(WorkflowDefinition.self, from: Data(json.utf8)), by: principal ?? admin)
        }

        func start(_ name: String, _ inputs: String = "{}", as principal: Principal? = nil) async throws -> WorkflowRun {
            try await workflows.start(name, inputs: JSONAny(json: Array(inputs.utf8))!, by: principal ?? operator_)
        }

        /// The run once `done` holds, re-read at every workflow event (no polling, no sleeps);
        /// fails the test after `timeout`.
        func wait(for id: TimeOrderedID, timeout: Duration = .seconds(30), until done: @escaping @Sendable (WorkflowRun) -> Bool = { $0.status.isFinal }) async throws -> WorkflowRun {
            let stream = core.notifications.subscribe()
            let organizationID = organization.id
            let workflows = self.workflows
            if let run = try workflows.run(id, in: organizationID), done(run) { return run }
            let found = await withTaskGroup(of: WorkflowRun?.self) { group in
                group.addTask {
                    for await _ in stream {
                        if let run = try? workflows.run(id, in: organizationID), done(run) { return run }
                    }
                    return nil
                }
                group.addTask { try? await Task.sleep(for: timeout); return nil }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let found else {
                let current = try workflows.run(id, in: organizationID)
                Issue.record("run \(id) did not get there in \(timeout): \(String(describing: current?.status)) \(current?.error ?? "") steps \(current?.steps.mapValues(\.status.rawValue) ?? [:])")
                throw CancellationError()
            }
            return found
        }

        func changes() -> [String] {
            ((try? String(contentsOfFile: state + "/changes", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    // MARK: Expressions

    @Test(arguments: [
        ("steps.check.output.percent > 90", "true"),
        ("steps.check.output.percent * 2 - 1", "185"),
        ("inputs.host + ':' + string(inputs.port)", "\"db-7:5432\""),
        ("'db' in inputs.host && !(inputs.port < 1024)", "true"),
        ("len(inputs.tags) == 2 && inputs.tags[1] == 'b' && inputs.tags[-1] == 'b'", "true"),
        ("inputs.missing.deeper", "null"),
        ("default(inputs.missing, 'fallback')", "\"fallback\""),
        ("max(3, 9, 4) + min([5, 2]) + abs(-1) + round(2.6)", "15"),
        ("upper(trim('  x ')) + lower('Y')", "\"Xy\""),
        ("join(split('a,b,c', ','), '-')", "\"a-b-c\""),
        ("contains(inputs.tags, 'a') && startsWith(inputs.host, 'db') && endsWith(inputs.host, '7')", "true"),
        ("keys({})", "error"),
        ("inputs.port > 'x'", "error"),
        ("inputs.port + 'x'", "error"),
        ("1 / 0", "error"),
        ("inputs.port.x", "error"),
        ("nope.x", "error"),
        ("system('rm -rf /')", "error"),
        ("inputs.host ==", "error"),
        ("'unclosed", "error"),
        ("len(1, 2)", "error"),
        ("steps.check.output.percent > 90 ? 1 : 2", "error"),
        ("number('42') + 1", "43"),
        ("number('4x2')", "error"),
        ("[1, 'a', null, true] == [1, 'a', null, true]", "true"),
        ("'x' in {}", "error"),
    ])
    func expressionsEvaluateOrSayWhy(_ source: String, _ expected: String) throws {
        let scope: [String: JSONAny] = [
            "inputs": .object(["host": .string("db-7"), "port": .number(5432), "tags": .array([.string("a"), .string("b")])]),
            "steps": .object(["check": .object(["output": .object(["percent": .number(93)])])]),
        ]
        let result: Result<JSONAny, ExpressionError> = Result { () throws(ExpressionError) in try Expression(source).evaluate(scope) }
        switch result {
        case let .success(value):
            #expect(expected != "error", "\(source) should have failed but gave \(value)")
            if expected != "error" { #expect(value == JSONAny(json: Array(expected.utf8)), "\(source)") }
        case let .failure(error):
            #expect(expected == "error", "\(source) failed: \(error)")
            #expect(!error.message.isEmpty)
        }
    }

    /// Hostile expressions stop at their limits with an error, quickly.
    @Test func hostileExpressionsAreBounded() throws {
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        #expect(throws: ExpressionError.self) { try Expression(deep) }
        #expect(throws: ExpressionError.self) { try Expression(String(repeating: "1+", count: 1500) + "1") }
        let unary = String(repeating: "!", count: 200) + "true"
        #expect(throws: ExpressionError.self) { try Expression(unary) }
        // Doubling a string grows past the value limit and stops there (2 KB doubled 6 times is 128 KB).
        let doubling = (0..<6).reduce("inputs.s") { text, _ in "(\(text) + \(text))" }
        let scope: [String: JSONAny] = ["inputs": .object(["s": .string(String(repeating: "x", count: 2000))])]
        let expression = try Expression(doubling)
        #expect(throws: ExpressionError.self) { try expression.evaluate(scope) }
        #expect(try Expression("inputs.s + inputs.s").evaluate(scope).string?.count == 4000)
        // Steps are counted: a wide but shallow expression over a big list is cut off.
        let big: [String: JSONAny] = ["inputs": .object(["s": .array(Array(repeating: .number(1), count: 20_000))])]
        #expect(try Expression("len(inputs.s)").evaluate(big) == .number(20_000))
        #expect(throws: ExpressionError.self) { try ValueTemplate(.string("{{ unclosed")).expressions() }
        #expect(try ValueTemplate(.object(["a": .string("{{ inputs.s[0] }}"), "b": .string("n={{ len(inputs.s) }}")])).render(big)
            == .object(["a": .number(1), "b": .string("n=20000")]))
    }

    // MARK: Definitions

    @Test func aDefinitionListsEveryProblemTiedToItsStep() throws {
        let json = """
        {"name": "Bad Name", "title": "", "nodes": [
           {"id": "a", "type": "condition", "config": {"expression": "steps.c.output > 1"}},
           {"id": "b", "type": "tool", "config": {}},
           {"id": "c", "type": "set", "config": {"variables": {"x": "{{ nope }}"}}},
           {"id": "d", "type": "switch", "config": {"cases": [{"name": "hot", "expression": "inputs.t >"}]}},
           {"id": "e", "type": "wait", "config": {}},
           {"id": "f", "type": "fail", "config": {}},
           {"id": "Bad", "type": "stop"}
         ],
         "edges": [{"from": "a", "port": "maybe", "to": "b"}, {"from": "a", "port": "true", "to": "c"}, {"from": "c", "to": "a"},
                   {"from": "f", "to": "e"}, {"from": "a", "port": "false", "to": "zzz"}],
         "triggers": [{"type": "schedule", "cron": "61 * * * *"}, {"type": "event", "event": "no.such"}]}
        """
        let definition = try JSONDecoder().decode(WorkflowDefinition.self, from: Data(json.utf8))
        let problems = definition.problems()
        func has(_ node: String?, _ fragment: String) -> Bool { problems.contains { $0.node == node && ($0.description.contains(fragment)) } }
        #expect(has(nil, "name"))
        #expect(has(nil, "title"))
        #expect(has("b", "config.tool"))
        #expect(has("d", "config.cases[0].expression"))
        #expect(has("e", "either seconds or until"))
        #expect(has("Bad", "step id"))
        #expect(has("a", "leaves by false, true, not 'maybe'"))
        #expect(has("f", "ends the run"))
        #expect(has(nil, "there is no step 'zzz'"))
        #expect(has("a", "form a cycle"))
        #expect(has(nil, "triggers[0]"))
        #expect(has(nil, "triggers[1].event"))
        #expect(has("c", "'nope'"), "\(problems)")

        // A step may read only steps that finish before it.
        let ordering = try JSONDecoder().decode(WorkflowDefinition.self, from: Data("""
        {"name": "order", "title": "Order", "nodes": [
           {"id": "start", "type": "join"},
           {"id": "left", "type": "set", "config": {"variables": {"x": "{{ steps.right.output }}"}}},
           {"id": "right", "type": "set", "config": {"variables": {"y": 1}}},
           {"id": "after", "type": "condition", "config": {"expression": "steps.left.status == 'succeeded' && steps.right.status == 'succeeded'"}}
         ],
         "edges": [{"from": "start", "to": "left"}, {"from": "start", "to": "right"}, {"from": "left", "to": "after"}, {"from": "right", "to": "after"}]}
        """.utf8))
        #expect(ordering.problems().map(\.description) == ["step left config: \"steps.right.output\" reads step 'right', which does not run before this one"])
    }

    @Test func everyShippedTemplateIsValidAndItsSubWorkflowsShipToo() throws {
        #expect(WorkflowLibrary.templates.count >= 8)
        let names = Set(WorkflowLibrary.templates.map(\.definition.name))
        for template in WorkflowLibrary.templates {
            #expect(template.definition.problems() == [], "\(template.definition.name)")
            #expect(Set(template.requires ?? []).isSubset(of: names))
        }
        #expect(WorkflowLibrary.schema["$defs"]?["config"]?.object?.keys.sorted() == StepType.allCases.map(\.rawValue).sorted())
    }

    @Test func savesMakeImmutableVersionsThatRunsArePinnedTo() async throws {
        let world = try await World()
        try await world.save(Self.echo(text: "one"))
        let first = try await world.start("echo")
        try await world.save(Self.echo(text: "two"))
        let second = try await world.start("echo")
        let firstDone = try await world.wait(for: first.id), secondDone = try await world.wait(for: second.id)
        #expect(firstDone.version == 1 && firstDone.outputs == .object(["said": .string("one")]))
        #expect(secondDone.version == 2 && secondDone.outputs == .object(["said": .string("two")]))
        #expect(try world.workflows.versions("echo", in: world.organization.id).map(\.version) == [2, 1])
        #expect(try world.workflows.version("echo", 1, in: world.organization.id)?.definition.nodes[0].config["input"]?["text"] == .string("one"))
        // Saving needs workflows:manage; an invalid definition is refused with its problems.
        await #expect(throws: PortalError.self) { try await world.save(Self.echo(text: "x"), by: world.operator_) }
        do {
            try await world.save(#"{"name": "echo", "title": "Echo", "nodes": []}"#)
            Issue.record("an empty workflow was saved")
        } catch let PortalError.invalidInput(error) {
            #expect(error.problems.contains { $0.field == "nodes" })
        }
        #expect(try world.workflows.summary("echo", in: world.organization.id)?.latestVersion == 2)
    }

    static func echo(text: String) -> String {
        """
        {"name": "echo", "title": "Echo", "outputs": {"said": "{{ steps.say.output.text }}"},
         "nodes": [{"id": "say", "type": "tool", "config": {"tool": "wf.echo", "input": {"text": "\(text)"}}}], "edges": []}
        """
    }

    // MARK: The disk-cleanup shape: tool → condition → approval → tool, notify either way

    static let cleanup = """
    {"name": "disk-cleanup", "title": "Disk cleanup",
     "inputs": {"type": "object", "properties": {"percent": {"type": "string"}}, "required": ["percent"]},
     "outputs": {"cleaned": "{{ steps.clean.status == 'succeeded' }}"},
     "nodes": [
       {"id": "check", "type": "tool", "config": {"tool": "wf.percent", "input": {"value": "{{ inputs.percent }}"}}},
       {"id": "full", "type": "condition", "config": {"expression": "steps.check.output.percent > 90"}},
       {"id": "ask", "type": "approval", "config": {"message": "Clean the journal? Disk at {{ steps.check.output.percent }}%", "risk": "high"},
        "onFailure": "handler"},
       {"id": "clean", "type": "tool", "config": {"tool": "wf.change", "input": {"what": "vacuum at {{ steps.check.output.percent }}"}}},
       {"id": "tell", "type": "notify", "config": {"message": "disk at {{ steps.check.output.percent }}%"}}
     ],
     "edges": [{"from": "check", "to": "full"}, {"from": "full", "port": "true", "to": "ask"}, {"from": "ask", "to": "clean"},
               {"from": "ask", "port": "error", "to": "tell"}, {"from": "full", "port": "false", "to": "tell"}, {"from": "clean", "to": "tell"}]}
    """

    @Test func conditionApprovalAndNotifyEitherWay() async throws {
        let world = try await World()
        try await world.save(Self.cleanup)
        // Below the threshold: no approval, the cleaning is skipped, the notification goes out.
        let calm = try await world.wait(for: try await world.start("disk-cleanup", #"{"percent": "42"}"#).id)
        #expect(calm.status == .succeeded)
        #expect(calm.steps["full"]?.port == "false" && calm.steps["ask"]?.status == .skipped && calm.steps["clean"]?.status == .skipped)
        #expect(calm.steps["tell"]?.output?["message"] == .string("disk at 42%"))
        #expect(calm.outputs == .object(["cleaned": .bool(false)]))

        // Above it: the run waits for a person; the starter may not approve a high-risk step.
        let full = try await world.start("disk-cleanup", #"{"percent": "95"}"#)
        let waiting = try await world.wait(for: full.id) { $0.steps["ask"]?.status == .waiting }
        #expect(waiting.steps["ask"]?.approval?.message == "Clean the journal? Disk at 95%")
        await #expect(throws: PortalError.self) {
            try await world.workflows.decide(full.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.operator_)
        }
        try await world.workflows.decide(full.id, node: "ask", approve: true, comment: "go", in: world.organization.id, by: world.admin)
        let done = try await world.wait(for: full.id)
        #expect(done.status == .succeeded, "\(done.error ?? "")")
        #expect(done.outputs == .object(["cleaned": .bool(true)]))
        #expect(world.changes() == ["vacuum at 95"])
        #expect(done.steps["ask"]?.approval?.decisions.map(\.username) == ["ada"])
        // Deciding again is a conflict.
        await #expect(throws: PortalError.self) {
            try await world.workflows.decide(full.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.secondAdmin)
        }

        // Rejected: the handler path (notify) runs, the cleaning does not.
        let rejected = try await world.start("disk-cleanup", #"{"percent": "99"}"#)
        _ = try await world.wait(for: rejected.id) { $0.steps["ask"]?.status == .waiting }
        try await world.workflows.decide(rejected.id, node: "ask", approve: false, comment: "not now", in: world.organization.id, by: world.secondAdmin)
        let handled = try await world.wait(for: rejected.id)
        #expect(handled.status == .succeeded)
        #expect(handled.steps["ask"]?.status == .failed && handled.steps["ask"]?.port == "error")
        #expect(handled.steps["ask"]?.error == "rejected by ben: not now")
        #expect(handled.steps["clean"]?.status == .skipped && handled.steps["tell"]?.status == .succeeded)
        #expect(world.changes() == ["vacuum at 95"])

        // The log tells the story in order, and every change is in the audit trail.
        let log = try world.workflows.log(of: done.id)
        #expect(log.map(\.sequence) == Array(1...log.count))
        #expect(log.first?.kind == .workflowRunStarted && log.last?.kind == .workflowRunSucceeded)
        #expect(log.contains { $0.kind == .workflowApprovalDecided && $0.status == "approved" })
        // The tool steps went through the one run path, as the starter, via `workflow`.
        let toolRuns = try world.core.runs.activity(in: world.organization.id, filter: .init(tool: "wf.change"), limit: 10)
        #expect(toolRuns.count == 1 && toolRuns[0].entryPoint == .workflow && toolRuns[0].requesterName == "olga")
    }

    @Test func anAllOfApprovalNeedsEveryNamedPersonAndExpires() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "two-keys", "title": "Two keys", "nodes": [
           {"id": "ask", "type": "approval", "config": {"mode": "all-of", "approvers": ["ada", "ben"], "message": "both"}},
           {"id": "done", "type": "set", "config": {"variables": {"ok": true}}}],
         "edges": [{"from": "ask", "to": "done"}]}
        """)
        let run = try await world.start("two-keys")
        _ = try await world.wait(for: run.id) { $0.steps["ask"]?.status == .waiting }
        try await world.workflows.decide(run.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.admin)
        #expect(try world.workflows.run(run.id, in: world.organization.id)?.steps["ask"]?.status == .waiting)
        // Someone not named may not decide.
        await #expect(throws: PortalError.self) {
            try await world.workflows.decide(run.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.operator_)
        }
        try await world.workflows.decide(run.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.secondAdmin)
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded && done.variables["ok"] == .bool(true))

        // Expiry: a step whose deadline passed fails when the run is next moved on.
        try await world.save("""
        {"name": "short", "title": "Short", "nodes": [
           {"id": "ask", "type": "approval", "config": {"expiresAfterMinutes": 1}, "timeoutSeconds": 1}], "edges": []}
        """)
        let short = try await world.start("short")
        let expired = try await world.wait(for: short.id)
        #expect(expired.status == .failed)
        #expect(expired.steps["ask"]?.error?.contains("timed out") == true, "\(expired.steps["ask"]?.error ?? "")")
    }

    // MARK: Parallel branches and joins

    @Test(arguments: [("all", 3), ("any", 1), ("count", 2)])
    func joinsWaitForAllAnyOrSomeBranches(_ mode: String, _ expectedArrived: Int) async throws {
        let world = try await World()
        // Three branches; two of them take a second (a slow tool), one is instant.
        try await world.save("""
        {"name": "fan", "title": "Fan out", "nodes": [
           {"id": "split", "type": "join"},
           {"id": "quick", "type": "set", "config": {"variables": {"q": 1}}},
           {"id": "slow_a", "type": "tool", "config": {"tool": "wf.slow", "input": {"seconds": "1"}}},
           {"id": "slow_b", "type": "tool", "config": {"tool": "wf.slow", "input": {"seconds": "1"}}},
           {"id": "meet", "type": "join", "config": {"mode": "\(mode)", "count": 2}},
           {"id": "after", "type": "set", "config": {"variables": {"arrived": "{{ len(keys(steps)) }}"}}}],
         "edges": [{"from": "split", "to": "quick"}, {"from": "split", "to": "slow_a"}, {"from": "split", "to": "slow_b"},
                   {"from": "quick", "to": "meet"}, {"from": "slow_a", "to": "meet"}, {"from": "slow_b", "to": "meet"}, {"from": "meet", "to": "after"}]}
        """)
        let run = try await world.start("fan")
        let joined = try await world.wait(for: run.id) { $0.steps["after"]?.status == .succeeded }
        let arrivedBranches = ["quick", "slow_a", "slow_b"].filter { joined.steps[$0]?.status == .succeeded }.count
        if mode == "any" { #expect(arrivedBranches < 3, "an any-join went on before the slow branches ended") } else { #expect(arrivedBranches >= expectedArrived) }
        // The slow branches ran at the same time: the whole run takes about one second, not two.
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded)
        let a = try #require(done.steps["slow_a"]), b = try #require(done.steps["slow_b"])
        #expect(a.startedAt! < b.finishedAt! && b.startedAt! < a.finishedAt!, "the branches did not overlap")
    }

    // MARK: Loops and sub-workflows

    @Test func forEachRunsAChildPerItemWithAConcurrencyLimit() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "one-host", "title": "One host", "inputs": {"type": "object", "properties": {"item": {"type": "string"}, "index": {"type": "number"}}},
         "outputs": {"host": "{{ inputs.item }}", "said": "{{ steps.say.output.text }}"},
         "nodes": [{"id": "say", "type": "tool", "config": {"tool": "wf.slow", "input": {"seconds": "0.3"}}, "retry": {"attempts": 1, "backoffSeconds": 0}},
                   {"id": "echo", "type": "tool", "config": {"tool": "wf.echo", "input": {"text": "hello {{ inputs.item }}"}}}],
         "edges": [{"from": "say", "to": "echo"}]}
        """)
        try await world.save("""
        {"name": "all-hosts", "title": "All hosts", "inputs": {"type": "object", "properties": {"hosts": {"type": "array"}}},
         "outputs": {"results": "{{ steps.each.output }}"},
         "nodes": [{"id": "each", "type": "for-each", "config": {"items": "inputs.hosts", "workflow": "one-host", "concurrency": 2}}], "edges": []}
        """)
        let run = try await world.start("all-hosts", #"{"hosts": ["a", "b", "c", "d", "e"]}"#)
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded, "\(done.error ?? "")")
        let results = try #require(done.outputs?["results"]?.array)
        #expect(results.map { $0["host"] } == ["a", "b", "c", "d", "e"].map { JSONAny.string($0) })
        // Never more than two children at once.
        let children = try done.steps["each"]!.children!.map { try #require(try world.workflows.run($0, in: world.organization.id)) }
        #expect(children.count == 5 && children.allSatisfy { $0.parent?.runID == run.id && $0.trigger == .workflow })
        for child in children {
            let atItsStart = children.filter { $0.createdAt <= child.createdAt && child.createdAt < $0.finishedAt! }
            #expect(atItsStart.count <= 2, "\(atItsStart.count) children ran at once")
        }
        // An empty list finishes at once with an empty result; a non-list fails the step.
        #expect(try await world.wait(for: try await world.start("all-hosts", #"{"hosts": []}"#).id).outputs?["results"] == .array([]))
    }

    @Test func whileRepeatsUntilItsConditionAndStopsAtItsMaximum() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "poll", "title": "Poll", "inputs": {"type": "object", "properties": {"index": {"type": "number"}}},
         "outputs": {"round": "{{ inputs.index }}"},
         "nodes": [{"id": "look", "type": "tool", "config": {"tool": "wf.flaky", "input": {"key": "poll-{{ inputs.index }}", "succeedAt": "1"}}}], "edges": []}
        """)
        try await world.save("""
        {"name": "until-ready", "title": "Until ready", "nodes": [
           {"id": "loop", "type": "while", "config": {"condition": "iteration < 3", "workflow": "poll", "maxIterations": 10}}], "edges": []}
        """)
        let done = try await world.wait(for: try await world.start("until-ready").id)
        #expect(done.status == .succeeded)
        #expect(done.steps["loop"]?.output?["iterations"] == .number(3))
        #expect(done.steps["loop"]?.output?["last"]?["round"] == .number(2))

        try await world.save("""
        {"name": "forever", "title": "Forever", "nodes": [
           {"id": "loop", "type": "while", "config": {"condition": "true", "workflow": "poll", "maxIterations": 2}}], "edges": []}
        """)
        let capped = try await world.wait(for: try await world.start("forever").id)
        #expect(capped.status == .failed)
        #expect(capped.steps["loop"]?.error == "the condition still held after 2 rounds")
    }

    @Test func aSubWorkflowsFailureIsItsStepsFailureAndNestingIsBounded() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "breaks", "title": "Breaks", "nodes": [{"id": "boom", "type": "tool", "config": {"tool": "wf.fail", "input": {"why": "disk"}}}], "edges": []}
        """)
        try await world.save("""
        {"name": "calls", "title": "Calls", "nodes": [
           {"id": "child", "type": "sub-workflow", "config": {"workflow": "breaks"}, "onFailure": "continue"},
           {"id": "after", "type": "set", "config": {"variables": {"saw": "{{ steps.child.status }}"}}}],
         "edges": [{"from": "child", "to": "after"}]}
        """)
        let done = try await world.wait(for: try await world.start("calls").id)
        #expect(done.status == .succeeded)
        #expect(done.variables["saw"] == .string("failed"))
        #expect(done.steps["child"]?.error?.contains("broken: disk") == true, "\(done.steps["child"]?.error ?? "")")

        // A workflow that calls itself stops at the nesting limit instead of recursing forever.
        try await world.save("""
        {"name": "itself", "title": "Itself", "nodes": [{"id": "again", "type": "sub-workflow", "config": {"workflow": "itself"}}], "edges": []}
        """)
        let recursive = try await world.wait(for: try await world.start("itself").id)
        #expect(recursive.status == .failed)
        #expect(try world.workflows.runs(in: world.organization.id, filter: .init(workflow: "itself"), limit: 100).count == Workflows.maxNesting)
    }

    // MARK: Failures, retries, timeouts

    @Test func retriesWithBackoffThenTheFailureActionDecides() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "retrying", "title": "Retrying", "nodes": [
           {"id": "flaky", "type": "tool", "config": {"tool": "wf.flaky", "input": {"key": "r1", "succeedAt": "3"}},
            "retry": {"attempts": 3, "backoffSeconds": 0.2, "multiplier": 2}}], "edges": []}
        """)
        let done = try await world.wait(for: try await world.start("retrying").id)
        #expect(done.status == .succeeded)
        #expect(done.steps["flaky"]?.attempts == 3 && done.steps["flaky"]?.output?["attempts"] == .number(3))
        // The backoff was waited: 0.2 s then 0.4 s between the attempts.
        let log = try world.workflows.log(of: done.id).filter { $0.node == "flaky" && $0.kind == .workflowStepStarted }
        #expect(log.count == 3)
        #expect(log[2].time.timeIntervalSince(log[0].time) >= 0.55, "\(log.map(\.time))")

        // Out of attempts: stop fails the run; the retry from the failed step succeeds once the tool does.
        try await world.save("""
        {"name": "gives-up", "title": "Gives up", "nodes": [
           {"id": "first", "type": "set", "config": {"variables": {"a": 1}}},
           {"id": "flaky", "type": "tool", "config": {"tool": "wf.flaky", "input": {"key": "r2", "succeedAt": "3"}}, "retry": {"attempts": 2, "backoffSeconds": 0}}],
         "edges": [{"from": "first", "to": "flaky"}]}
        """)
        let failed = try await world.wait(for: try await world.start("gives-up").id)
        #expect(failed.status == .failed && failed.steps["flaky"]?.attempts == 2)
        #expect(failed.error?.hasPrefix("step flaky failed: tool run") == true, "\(failed.error ?? "")")
        await #expect(throws: PortalError.self) { try await world.workflows.resume(failed.id, in: world.organization.id, by: world.operator_) }
        try await world.workflows.retry(failed.id, in: world.organization.id, by: world.operator_)
        let retried = try await world.wait(for: failed.id)
        #expect(retried.status == .succeeded)
        #expect(retried.steps["first"]?.finishedAt == failed.steps["first"]?.finishedAt, "the step before the failure ran again")
    }

    @Test func aStepThatOutlivesItsTimeoutFailsAndItsLateResultIsIgnored() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "slowpoke", "title": "Slow", "nodes": [
           {"id": "slow", "type": "tool", "config": {"tool": "wf.slow", "input": {"seconds": "3"}}, "timeoutSeconds": 1, "onFailure": "handler"},
           {"id": "handled", "type": "set", "config": {"variables": {"reason": "{{ steps.slow.error }}"}}}],
         "edges": [{"from": "slow", "port": "error", "to": "handled"}]}
        """)
        let run = try await world.start("slowpoke")
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded)
        #expect(done.variables["reason"] == .string("timed out after 1 s"))
        // The tool's result arrives later and changes nothing.
        _ = try await world.core.runs.waitUntilFinal(try #require(try world.core.runs.activity(in: world.organization.id, filter: .init(tool: "wf.slow"), limit: 1).first?.id),
                                                     in: world.organization.id, timeout: .seconds(10))
        #expect(try world.workflows.run(run.id, in: world.organization.id)?.steps["slow"]?.status == .failed)
    }

    // MARK: Operations

    @Test func cancelPauseAndResume() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "gate", "title": "Gate", "nodes": [
           {"id": "ask", "type": "approval", "config": {}},
           {"id": "then", "type": "tool", "config": {"tool": "wf.change", "input": {"what": "after gate"}}}],
         "edges": [{"from": "ask", "to": "then"}]}
        """)
        let paused = try await world.start("gate")
        try await world.workflows.pause(paused.id, in: world.organization.id, by: world.operator_)
        try await world.workflows.decide(paused.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.admin)
        // Paused: the decision is recorded, the next step does not start.
        let held = try #require(try world.workflows.run(paused.id, in: world.organization.id))
        #expect(held.status == .paused && held.steps["ask"]?.status == .succeeded && held.steps["then"] == nil)
        try await world.workflows.resume(paused.id, in: world.organization.id, by: world.operator_)
        #expect(try await world.wait(for: paused.id).status == .succeeded)
        #expect(world.changes() == ["after gate"])

        let cancelled = try await world.start("gate")
        try await world.workflows.cancel(cancelled.id, in: world.organization.id, reason: "", by: world.operator_)
        let stopped = try #require(try world.workflows.run(cancelled.id, in: world.organization.id))
        #expect(stopped.status == .cancelled && stopped.steps["ask"]?.status == .cancelled)
        await #expect(throws: PortalError.self) {
            try await world.workflows.decide(cancelled.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.admin)
        }
        do {
            try await world.workflows.cancel(cancelled.id, in: world.organization.id, reason: "", by: world.operator_)
            Issue.record("a cancelled run was cancelled again")
        } catch let PortalError.conflict(message) {
            #expect(message.contains("cancelled") && message.contains("needs-attention or paused or queued or running"))
        }
    }

    @Test func reRunFromAStepOnTheLatestVersionKeepsWhatCameBefore() async throws {
        let world = try await World()
        let v1 = """
        {"name": "steps", "title": "Steps", "outputs": {"last": "{{ steps.second.output.text }}"}, "nodes": [
           {"id": "first", "type": "tool", "config": {"tool": "wf.change", "input": {"what": "first"}}},
           {"id": "second", "type": "tool", "config": {"tool": "wf.echo", "input": {"text": "%@"}}}],
         "edges": [{"from": "first", "to": "second"}]}
        """
        try await world.save(v1.replacingOccurrences(of: "%@", with: "v1"))
        let original = try await world.wait(for: try await world.start("steps").id)
        #expect(original.outputs?["last"] == .string("v1"))
        try await world.save(v1.replacingOccurrences(of: "%@", with: "v2"))
        let rerun = try await world.workflows.rerun(original.id, from: "second", onLatestVersion: true, in: world.organization.id, by: world.operator_)
        let done = try await world.wait(for: rerun.id)
        #expect(done.version == 2 && done.rerunOf == original.id && done.trigger == .rerun)
        #expect(done.outputs?["last"] == .string("v2"))
        #expect(world.changes() == ["first"], "the step before the re-run point ran again")
        // On the same version, from the first step: everything runs again.
        let again = try await world.wait(for: try await world.workflows.rerun(original.id, from: "first", onLatestVersion: false, in: world.organization.id, by: world.operator_).id)
        #expect(again.version == 1 && again.outputs?["last"] == .string("v1"))
        #expect(world.changes() == ["first", "first"])
        await #expect(throws: PortalError.self) {
            try await world.workflows.rerun(original.id, from: "nope", onLatestVersion: true, in: world.organization.id, by: world.operator_)
        }
    }

    @Test(arguments: ["queue", "reject"])
    func aConcurrencyLimitQueuesOrRejects(_ overflow: String) async throws {
        let world = try await World()
        try await world.save("""
        {"name": "single", "title": "Single", "concurrency": {"limit": 1, "overflow": "\(overflow)"},
         "nodes": [{"id": "ask", "type": "approval", "config": {}}], "edges": []}
        """)
        let first = try await world.start("single")
        #expect(first.status == .running)
        if overflow == "reject" {
            await #expect(throws: PortalError.self) { try await world.start("single") }
            return
        }
        let second = try await world.start("single")
        #expect(second.status == .queued)
        try await world.workflows.decide(first.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.admin)
        // The first ends; the queued one starts and waits at its own approval.
        let promoted = try await world.wait(for: second.id) { $0.steps["ask"]?.status == .waiting }
        #expect(promoted.status == .running)
    }

    @Test func waitForAnEventAndEventTriggers() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "watcher", "title": "Watcher", "nodes": [
           {"id": "hear", "type": "wait-event", "config": {"event": "run.failed", "condition": "event.payload.tool == 'wf.fail'"}},
           {"id": "after", "type": "set", "config": {"variables": {"tool": "{{ steps.hear.output.payload.tool }}"}}}],
         "edges": [{"from": "hear", "to": "after"}]}
        """)
        try await world.save("""
        {"name": "on-failure", "title": "On failure", "inputs": {"type": "object", "properties": {"tool": {"type": "string"}}},
         "outputs": {"tool": "{{ inputs.tool }}"},
         "triggers": [{"type": "event", "event": "run.failed", "condition": "event.payload.tool == 'wf.fail'", "inputs": {"tool": "{{ event.payload.tool }}"}}],
         "nodes": [{"id": "note", "type": "set", "config": {"variables": {"seen": true}}}], "edges": []}
        """)
        // The same trigger, switched off: it starts nothing.
        try await world.save("""
        {"name": "switched-off", "title": "Switched off",
         "triggers": [{"type": "event", "event": "run.failed", "enabled": false}],
         "nodes": [{"id": "note", "type": "set", "config": {"variables": {"seen": true}}}], "edges": []}
        """)
        let watcher = try await world.start("watcher")
        _ = try await world.wait(for: watcher.id) { $0.steps["hear"]?.status == .waiting }
        // Another failing tool does not match the condition; wf.fail does.
        _ = try await world.core.runs.request(.init(principal: world.operator_, tool: "wf.flaky", input: .object(["key": .string("x"), "succeedAt": .string("9")]),
                                                    entryPoint: .api, requestID: "r1"))
        _ = try await world.core.runs.request(.init(principal: world.operator_, tool: "wf.fail", input: .object(["why": .string("now")]), entryPoint: .api, requestID: "r2"))
        let heard = try await world.wait(for: watcher.id)
        #expect(heard.variables["tool"] == .string("wf.fail"))
        try await world.core.waitForEventConsumers()
        let triggered = try world.workflows.runs(in: world.organization.id, filter: .init(workflow: "on-failure"))
        #expect(triggered.count == 1 && triggered.first?.trigger == .event && triggered.first?.starterName == "ada")
        #expect(try world.workflows.runs(in: world.organization.id, filter: .init(workflow: "switched-off")).isEmpty)
        #expect(try await world.wait(for: triggered[0].id).outputs?["tool"] == .string("wf.fail"))
    }

    // MARK: Restarts

    /// A restart in the middle: a tool step that had been handed over and is not safe to
    /// repeat stops its run for attention; a read-only one runs again; a wait goes on.
    @Test func unfinishedRunsGoOnAfterARestartWithoutRepeatingUnsafeSteps() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-wf-\(UUID().uuidString)").path
        var world: World? = try await World(directory: directory)
        try await world!.save("""
        {"name": "unsafe", "title": "Unsafe", "nodes": [{"id": "change", "type": "tool", "config": {"tool": "wf.change", "input": {"what": "x"}}}], "edges": []}
        """)
        try await world!.save("""
        {"name": "safe", "title": "Safe", "nodes": [{"id": "read", "type": "tool", "config": {"tool": "wf.echo", "input": {"text": "again"}}}], "edges": []}
        """)
        try await world!.save("""
        {"name": "sleepy", "title": "Sleepy", "nodes": [{"id": "nap", "type": "wait", "config": {"seconds": 1}},
           {"id": "after", "type": "set", "config": {"variables": {"woke": true}}}], "edges": [{"from": "nap", "to": "after"}]}
        """)
        let organizationID = world!.organization.id
        // Runs stored as a crash would leave them: tool steps handed over with no result.
        func crashed(_ workflow: String, _ node: String, input: JSONAny, idempotent: Bool) async throws -> TimeOrderedID {
            let workflows = world!.workflows, starter = world!.operator_
            return try await world!.core.environment.write { txn in
                let (run, _) = try workflows.createRun(workflow, version: nil, inputs: .object([:]), organizationID: organizationID, starterID: starter.user.id,
                                                       starterName: starter.user.username, trigger: .api, parent: nil, rerunOf: nil, txn: txn)
                var stored = run
                var step = StepRun(status: .running, attempts: 1, idempotent: idempotent)
                step.handedOverAt = Date()
                step.input = input
                step.startedAt = Date()
                stored.steps[node] = step
                try txn.put(workflows.runs, (organizationID, run.id), stored)
                return run.id
            }
        }
        let unsafe = try await crashed("unsafe", "change", input: .object(["what": .string("x")]), idempotent: false)
        let safe = try await crashed("safe", "read", input: .object(["text": .string("again")]), idempotent: true)
        let sleepy = try await world!.start("sleepy")
        try await world!.services.stop()
        world!.core.environment.close()
        world = nil
        let reopened = try await World(directory: directory)
        let attention = try await reopened.wait(for: unsafe) { $0.status == .needsAttention }
        #expect(attention.error?.contains("step change had been handed over (to its tool)") == true, "\(attention.error ?? "")")
        #expect(reopened.changes().isEmpty, "an unsafe step ran again")
        let again = try await reopened.wait(for: safe)
        #expect(again.status == .succeeded && again.steps["read"]?.attempts == 2, "\(again.status) \(again.error ?? "") \(again.steps)")
        #expect(try await reopened.wait(for: sleepy.id).variables["woke"] == .bool(true))
        // Someone looks, and retries: now it runs (once).
        try await reopened.workflows.retry(unsafe, in: organizationID, by: reopened.operator_)
        #expect(try await reopened.wait(for: unsafe).status == .succeeded)
        #expect(reopened.changes() == ["x"])
    }
}
