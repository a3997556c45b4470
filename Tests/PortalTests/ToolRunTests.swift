import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// The one execution path (authenticate → permission → validate → approval → execute → audit
/// → notify) for every entry point, approvals, and the audit trail's tamper evidence.
@Suite struct ToolRunTests {
    /// A portal with an organization whose cloud scope is set, the host pack enabled, an
    /// operator, a viewer and two admins.
    struct World {
        let core: PortalCore
        let directory: String
        let organization: Organization
        let operator_: Principal
        let viewer: Principal
        let admin: Principal
        let secondAdmin: Principal
        /// The jobs runner and outbox consumers, as `portal serve` runs them.
        let services: RunningServices

        init(toolPath: [String]? = nil, allowed: Set<String>? = nil, deniedNetworks: [String]? = nil, directory: String? = nil) async throws {
            let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("portal-runs-\(UUID().uuidString)").path
            self.directory = directory
            var options = ToolRuntimeOptions(workRoot: directory + "/tool-runs")
            if let toolPath { options.searchPath = toolPath }
            if let allowed { options.allowedExecutables = allowed }
            if let deniedNetworks { options.deniedNetworks = deniedNetworks.compactMap(NetworkRange.init) }
            core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000), toolOptions: options)
            try await core.resumeAfterStart(defaultEmbedder: .hashing)
            services = core.startServices()
            _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
            let root = try #require(try core.accounts.user(named: "root"))
            let rootPrincipal = Principal(user: root, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
            if let existing = try core.organizations.organization(slug: "acme") {
                organization = existing
            } else {
                organization = try await core.organizations.create(slug: "acme", displayName: "Acme", cloudScope: "ocid1.compartment.oc1..acme",
                                                                   cloudProfile: "acme-profile", by: rootPrincipal)
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
            viewer = try await member("vic", .viewer)
            admin = try await member("ada", .admin)
            secondAdmin = try await member("ben", .admin)
            // The system administrator makes the packs available; the organization's admin enables them.
            for pack in ["host", "oci"] {
                try await core.tools.setAvailability(pack: pack, to: try core.tools.availability(of: pack).union([organization.id]), by: rootPrincipal)
                try await core.tools.setEnabled(true, pack: pack, by: admin)
            }
        }

        func request(_ tool: String, _ input: String, as principal: Principal? = nil, via entryPoint: EntryPoint = .api) async throws -> ToolRun {
            try await core.runs.request(.init(principal: principal ?? operator_, tool: tool, input: JSONAny(json: Array(input.utf8))!,
                                              entryPoint: entryPoint, requestID: "req-\(UUID().uuidString.prefix(8))"))
        }
    }

    @Test(arguments: EntryPoint.allCases)
    func everyEntryPointTakesEveryStep(_ entryPoint: EntryPoint) async throws {
        let world = try await World()
        // Unknown tool, and a tool of a pack the organization did not enable.
        await #expect(throws: ToolError.notFound("host.nope")) { try await world.request("host.nope", "{}", via: entryPoint) }
        try await world.core.tools.setEnabled(false, pack: "oci", by: world.admin)
        await #expect(throws: ToolError.notFound("oci.compute.instance.list")) { try await world.request("oci.compute.instance.list", "{}", via: entryPoint) }
        // Permission: viewers cannot run tools.
        await #expect(throws: ToolError.self) { try await world.request("host.memory", "{}", as: world.viewer, via: entryPoint) }
        // Validation, naming the field.
        do {
            _ = try await world.request("host.tcp-check", #"{"host":"localhost","port":99999}"#, via: entryPoint)
            Issue.record("invalid input ran")
        } catch let ToolError.invalidInput(error) {
            #expect(error.problems == [InputProblem(field: "port", message: "must be at most 65535")])
        }
        // A read tool runs at once and is audited with its result's digest.
        let run = try await world.request("host.memory", "{}", via: entryPoint)
        #expect(run.status == .succeeded, "\(run.output?.error ?? "")")
        #expect(run.entryPoint == entryPoint)
        #expect((run.output?.json?["totalBytes"]?.number ?? 0) > 0)
        // A risky tool waits.
        let risky = try await world.request("host.signal-process", #"{"pid":999999}"#, via: entryPoint)
        #expect(risky.status == .pendingApproval)

        let trail = try world.core.audit.page(limit: 100) { $0.organizationID == world.organization.id }
        let kinds = trail.reversed().filter { $0.kind.hasPrefix("run.") }.map { "\($0.kind) \($0.tool ?? "") \($0.outcome)" }
        #expect(kinds == [
            "run.refused host.memory refused",
            "run.requested host.memory running",
            "run.succeeded host.memory succeeded",
            "run.requested host.signal-process pending-approval",
        ])
        let finished = try #require(trail.first { $0.kind == "run.succeeded" })
        #expect(finished.outputDigest == run.output?.digest && finished.durationMilliseconds != nil)
        #expect(try world.core.audit.verify().isIntact)
    }

    @Test func approvalsFollowThePolicyAndResumeTheRun() async throws {
        let world = try await World()
        // A real process to signal (spawned with default signal handling): the run has an
        // effect only once approved.
        let scratch = world.directory + "/sleeper"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try "#!/bin/sh\necho $$ > pid\nexec sleep 300\n".write(toFile: scratch + "/sleeper.sh", atomically: true, encoding: .utf8)
        chmod(scratch + "/sleeper.sh", 0o755)
        let sleeper = Task {
            try await ProcessRunner().run(executable: scratch + "/sleeper.sh", arguments: [], environment: ["PATH": "/usr/bin:/bin"],
                                          directory: scratch, timeout: .seconds(120), maxOutputBytes: 1024)
        }
        var pid: Int32?
        for _ in 0..<1000 where pid == nil {  // waits for the pid file, bounded
            pid = (try? String(contentsOfFile: scratch + "/pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if pid == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let sleeperPID = try #require(pid)

        let updates = world.core.runs.notifications.subscribe()
        let run = try await world.request("host.signal-process", #"{"pid":\#(sleeperPID)}"#)
        #expect(run.status == .pendingApproval && run.approvalExpiresAt != nil)
        #expect(try world.core.runs.pendingApprovals(in: world.organization.id).map(\.id) == [run.id])
        var iterator = updates.makeAsyncIterator()
        let requested = try #require(await iterator.next())
        #expect(requested.kind == .approvalRequested && requested.isFor(world.admin) && !requested.isFor(world.operator_))

        // The requester cannot decide, nor can operators (no approvals:decide).
        await #expect(throws: ToolError.self) { try await world.core.runs.decide(runID: run.id, approve: true, comment: "", by: world.operator_, requestID: "r") }
        #expect(kill(sleeperPID, 0) == 0, "still running")
        // Another organization's admin does not see it.
        let other = Principal(user: world.admin.user, organizationID: UUID(), role: .admin, sessionKey: nil, csrfToken: nil)
        await #expect(throws: ToolError.notFound("run")) { try await world.core.runs.decide(runID: run.id, approve: true, comment: "", by: other, requestID: "r") }

        let decided = try await world.core.runs.decide(runID: run.id, approve: true, comment: "go ahead", by: world.admin, requestID: "r2")
        #expect(decided.status == .running)
        let final = try #require(try await world.core.runs.waitUntilFinal(run.id, in: world.organization.id, timeout: .seconds(30)))
        #expect(final.status == .succeeded, "\(final.output?.error ?? "")")
        let ended = try await sleeper.value
        #expect(ended.signal == SIGTERM && !ended.timedOut)
        await #expect(throws: ToolError.self) { try await world.core.runs.decide(runID: run.id, approve: true, comment: "", by: world.secondAdmin, requestID: "r") }

        // Rejection cancels; nothing runs.
        let rejected = try await world.request("host.signal-process", #"{"pid":999999}"#)
        let after = try await world.core.runs.decide(runID: rejected.id, approve: false, comment: "not now", by: world.secondAdmin, requestID: "r3")
        #expect(after.status == .rejected && after.output == nil)
        #expect(try world.core.runs.pendingApprovals(in: world.organization.id).isEmpty)

        let trail = try world.core.audit.page(limit: 50) { $0.runID == run.id.uuid }.reversed().map { "\($0.kind):\($0.outcome):\($0.approver ?? "-")" }
        #expect(Array(trail) == ["run.requested:pending-approval:-", "approval.decided:approved:ada", "run.succeeded:succeeded:ada"])
    }

    @Test func selfApprovalAllOfAndExpiry() async throws {
        let world = try await World()
        // Medium runs: self-approval allowed; destructive: ada and ben must both approve.
        var policy = ApprovalPolicy.standard
        policy.rules["medium"] = ApprovalRule(required: true, allowSelfApproval: true, expiresAfterMinutes: 1)
        policy.rules["high"] = ApprovalRule(required: true, mode: .allOf, approvers: ["ada", "ben"])
        try await world.core.runs.setPolicy(policy, by: world.admin)
        var forbidden = policy
        forbidden.rules["destructive"] = ApprovalRule(required: true, allowSelfApproval: true)
        await #expect(throws: PortalError.invalid("rules.destructive: self-approval is never allowed for destructive runs")) {
            try await world.core.runs.setPolicy(forbidden, by: world.admin)
        }

        let own = try await world.request("host.signal-process", #"{"pid":999999}"#, as: world.admin)
        let selfDecided = try await world.core.runs.decide(runID: own.id, approve: true, comment: "mine", by: world.admin, requestID: "r")
        #expect(selfDecided.status == .running)

        let high = try await world.request("host.systemd-restart-unit", #"{"unit":"nothing-here.service"}"#, as: world.admin)
        await #expect(throws: ToolError.self, "never self-approval for high") {
            try await world.core.runs.decide(runID: high.id, approve: true, comment: "", by: world.admin, requestID: "r")
        }
        let highByOperator = try await world.request("host.systemd-restart-unit", #"{"unit":"nothing-here.service"}"#)
        let first = try await world.core.runs.decide(runID: highByOperator.id, approve: true, comment: "", by: world.admin, requestID: "r")
        #expect(first.status == .pendingApproval, "all-of waits for ben")
        let second = try await world.core.runs.decide(runID: highByOperator.id, approve: true, comment: "", by: world.secondAdmin, requestID: "r")
        #expect(second.status == .running)

        let expiring = try await world.request("host.signal-process", #"{"pid":999999}"#)
        #expect(try await world.core.runs.expireOverdue(now: Date().addingTimeInterval(30)) == 0)
        #expect(try await world.core.runs.expireOverdue(now: Date().addingTimeInterval(120)) >= 1)
        #expect(try world.core.runs.run(expiring.id, in: world.organization.id)?.status == .expired)
        await #expect(throws: ToolError.self) { try await world.core.runs.decide(runID: expiring.id, approve: true, comment: "", by: world.secondAdmin, requestID: "r") }
    }

    @Test func pendingApprovalsSurviveARestartAndRunningOnesAreMarkedInterrupted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-restart-\(UUID().uuidString)").path
        var runID: TimeOrderedID
        var organizationID: UUID
        do {
            let world = try await World(directory: directory)
            runID = try await world.request("host.signal-process", #"{"pid":999999}"#).id
            organizationID = world.organization.id
            // Simulate a crash mid-execution: a run stored as running.
            var stuck = try #require(try world.core.runs.run(runID, in: organizationID))
            stuck = ToolRun(id: TimeOrderedID.generate(), organizationID: organizationID, tool: "host.memory", toolTitle: "Memory", risk: .read,
                            requesterID: stuck.requesterID, requesterName: stuck.requesterName, apiKeyID: nil, entryPoint: .api, requestID: "x",
                            input: .object([:]), redactedInput: .object([:]), status: .running, createdAt: Date(), updatedAt: Date(),
                            approvalRule: nil, approvalExpiresAt: nil, decisions: [], output: nil, durationMilliseconds: nil)
            let runs = world.core.runs, stored = stuck, organization = organizationID
            try await world.core.environment.write { txn in try txn.put(runs.runs, (organization, stored.id), stored) }
            try await world.services.stop()
            world.core.environment.close()
        }
        let reopened = try await World(directory: directory)
        #expect(try reopened.core.runs.pendingApprovals(in: organizationID).map(\.id) == [runID])
        let interrupted = try reopened.core.runs.activity(in: organizationID, filter: .init(status: .interrupted), limit: 10)
        #expect(interrupted.count == 1 && interrupted[0].tool == "host.memory")
        let decided = try await reopened.core.runs.decide(runID: runID, approve: true, comment: "", by: reopened.admin, requestID: "r")
        #expect(decided.status == .running)
        let final = try await reopened.core.runs.waitUntilFinal(runID, in: organizationID, timeout: .seconds(30))
        #expect(final?.status == .failed, "no such process: the run ran and failed")
        #expect(try reopened.core.audit.verify().isIntact)
    }

    @Test func theOCIPackRunsTheCLIWithExactArguments() async throws {
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("fake-oci-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // A stand-in for the OCI CLI: records its argv (NUL-separated) and answers recorded JSON.
        try #"""
        #!/bin/sh
        printf '%s\0' "$@" > "$HOME/../last-argv"
        printf '%s' "$OCI_CLI_PROFILE" > "$HOME/../last-profile"
        case "$1 $2 $3" in
          "compute instance list") echo '{"data":[{"id":"ocid1.instance.oc1.phx.aaa","display-name":"web-1","lifecycle-state":"RUNNING"}]}' ;;
          "os ns get") echo '{"data":"acmetenancy"}' ;;
          *) echo '{"data":[]}' ;;
        esac
        """#.write(toFile: bin + "/oci", atomically: true, encoding: .utf8)
        chmod(bin + "/oci", 0o755)
        let world = try await World(toolPath: [bin])
        func lastArgv() throws -> [String] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: world.directory + "/tool-runs/last-argv"))
            return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        }

        let list = try await world.request("oci.compute.instance.list", #"{"lifecycleState":"RUNNING"}"#)
        #expect(list.status == .succeeded, "\(list.output?.error ?? "")")
        // As the organization's own OCI identity.
        #expect(try String(contentsOfFile: world.directory + "/tool-runs/last-profile", encoding: .utf8) == "acme-profile")
        #expect(try lastArgv() == ["compute", "instance", "list", "--compartment-id", "ocid1.compartment.oc1..acme", "--lifecycle-state", "RUNNING", "--all", "--output", "json"])
        #expect(list.output?.json?["data"]?.array?.first?["display-name"] == .string("web-1"))

        _ = try await world.request("oci.compute.instance.list", "{}")
        #expect(try lastArgv() == ["compute", "instance", "list", "--compartment-id", "ocid1.compartment.oc1..acme", "--all", "--output", "json"], "absent options are left out")

        let stop = try await world.request("oci.compute.instance.stop", #"{"instanceId":"ocid1.instance.oc1.phx.aaa"}"#)
        #expect(stop.status == .pendingApproval && stop.risk == .high)
        _ = try await world.core.runs.decide(runID: stop.id, approve: true, comment: "", by: world.admin, requestID: "r")
        #expect(try await world.core.runs.waitUntilFinal(stop.id, in: world.organization.id, timeout: .seconds(30))?.status == .succeeded)
        #expect(try lastArgv() == ["compute", "instance", "action", "--instance-id", "ocid1.instance.oc1.phx.aaa", "--action", "STOP", "--output", "json"])

        // Hostile input never becomes a separate argument or an option.
        await #expect(throws: ToolError.self) { try await world.request("oci.objectstorage.bucket.get", #"{"bucketName":"b --all"}"#) }
        await #expect(throws: ToolError.self) { try await world.request("oci.compute.instance.get", #"{"instanceId":"--help"}"#) }

        // Every read tool of the pack runs against the fake with schema-valid input, and its
        // argv has no unfilled template, names the organization's compartment or an OCID,
        // and ends with --output json.
        let pack = try #require(world.core.tools.shipped["oci"])
        for tool in pack.tools where tool.risk == .read {
            let input = Self.sampleInput(for: tool)
            let run = try await world.core.runs.request(.init(principal: world.operator_, tool: tool.name, input: input, entryPoint: .api, requestID: "all"))
            #expect(run.status == .succeeded, "\(tool.name): \(run.output?.error ?? "")")
            let argv = try lastArgv()
            #expect(!argv.contains { $0.contains("{{") || $0.isEmpty }, "\(tool.name): \(argv)")
            #expect(Array(argv.suffix(2)) == ["--output", "json"], "\(tool.name)")
            for (index, argument) in argv.enumerated() where argument.hasSuffix("-id") && argument.hasPrefix("--") {
                #expect(argv[index + 1].hasPrefix("ocid1."), "\(tool.name): \(argument) \(argv[index + 1])")
            }
        }
    }

    /// The smallest input the tool's schema accepts, required fields only.
    static func sampleInput(for tool: Tool) -> JSONAny {
        var object: [String: JSONAny] = [:]
        let properties = tool.inputSchema["properties"]?.object ?? [:]
        for name in tool.inputSchema["required"]?.strings ?? [] {
            let property = properties[name]!
            if let first = property["enum"]?.array?.first { object[name] = first; continue }
            switch property["type"]?.string {
            case "integer", "number": object[name] = .number(property["minimum"]?.number ?? 1)
            default:
                switch property["format"]?.string {
                case "ocid": object[name] = .string("ocid1.resource.oc1.phx.sample")
                default: object[name] = .string(property["pattern"]?.string?.contains("[0-9]{4}") == true ? "2026-01-01" : "sample")
                }
            }
        }
        return .object(object)
    }

    // MARK: Installed packs

    /// The catalog keeps installed packs decoded between installs: a lookup after a pack is
    /// replaced (or one added) sees the new one, in the tool lookup runs use and in listings.
    @Test func aReplacedPackIsWhatTheNextLookupAndListingSee() async throws {
        let world = try await World()
        let core = world.core
        let root = Principal(user: try #require(try core.accounts.user(named: "root")), organizationID: world.organization.id, role: .admin,
                             sessionKey: nil, csrfToken: nil)
        func pack(_ version: String, title: String) -> ToolPack {
            ToolPack(name: "ops", title: "Operations", version: version, description: "For the test.", tools: [
                Tool(name: "ops.kernel", title: title, description: "Reads the kernel.", category: "Diagnostics",
                     inputSchema: .object(["type": .string("object"), "properties": .object([:]), "additionalProperties": .bool(false)]),
                     risk: .read, permission: nil, executor: .builtin("host.kernel"), limits: nil),
            ])
        }
        #expect(try core.tools.pack(named: "ops") == nil)
        try await core.tools.install(pack("1.0.0", title: "Kernel"), by: root)
        try await core.tools.setEnabled(true, pack: "ops", by: root)
        #expect(try core.tools.tool(named: "ops.kernel", in: world.organization.id)?.title == "Kernel")
        try await core.tools.install(pack("1.1.0", title: "Kernel, renamed"), by: root)
        #expect(try core.tools.tool(named: "ops.kernel", in: world.organization.id)?.title == "Kernel, renamed")
        #expect(try core.tools.tools(in: world.organization.id).filter { $0.name == "ops.kernel" }.map(\.title) == ["Kernel, renamed"])
        #expect(try core.tools.packs().filter { $0.name == "ops" }.map(\.version) == ["1.1.0"])
        #expect(try await world.request("ops.kernel", "{}").toolTitle == "Kernel, renamed")
    }

    // MARK: Audit

    @Test func editingDeletingOrReorderingAuditEntriesIsDetected() async throws {
        let world = try await World()
        for _ in 0..<5 { _ = try await world.request("host.load", "{}") }
        let audit = world.core.audit
        let intact = try audit.verify()
        #expect(intact.isIntact && intact.entriesChecked >= 10)
        let environment = world.core.environment
        let middle = intact.headSequence / 2

        // Edit one field of one entry.
        let original = try #require(try environment.read { txn in try txn.get(audit.entries, middle) })
        var edited = original.entry
        edited.outcome = "succeeded-ish"
        let tampered = try AuditRow(edited, eventSequence: original.eventSequence, event: original.event)
        try await environment.write { txn in try txn.put(audit.entries, middle, tampered) }
        #expect(try audit.verify().problems == ["entry \(middle) was edited (its HMAC does not match)"])
        try await environment.write { txn in try txn.put(audit.entries, middle, original) }
        #expect(try audit.verify().isIntact)

        // Edit the event the entry carries (what outbox consumers read), or its number.
        let carried = try #require(original.event)
        let otherEvent: DomainEvent = .security(SecurityEvent(kind: .signOut, userID: nil, username: "mallory", organizationID: nil, detail: ""))
        #expect(carried != otherEvent)
        for row in [try AuditRow(original.entry, eventSequence: original.eventSequence, event: otherEvent),
                    try AuditRow(original.entry, eventSequence: original.eventSequence.map { $0 + 1 }, event: carried)] {
            try await environment.write { txn in try txn.put(audit.entries, middle, row) }
            // (A changed number may also put the next entry's event out of order.)
            #expect(try audit.verify().problems.first == "entry \(middle) was edited (its HMAC does not match)")
        }
        try await environment.write { txn in try txn.put(audit.entries, middle, original) }
        #expect(try audit.verify().isIntact)

        // Swap two entries.
        let next = try #require(try environment.read { txn in try txn.get(audit.entries, middle + 1) })
        try await environment.write { txn in
            try txn.put(audit.entries, middle, next)
            try txn.put(audit.entries, middle + 1, original)
        }
        #expect(try audit.verify().problems.contains("entry \(middle) carries sequence \(middle + 1) (moved)"))
        try await environment.write { txn in
            try txn.put(audit.entries, middle, original)
            try txn.put(audit.entries, middle + 1, next)
        }

        // Delete one entry, then the newest one.
        try await environment.write { txn in _ = try txn.delete(audit.entries, middle) }
        #expect(try audit.verify().problems.contains("entries \(middle)–\(middle) are missing"))
        try await environment.write { txn in try txn.put(audit.entries, middle, original) }
        let head = intact.headSequence
        let newest = try #require(try environment.read { txn in try txn.get(audit.entries, head) })
        try await environment.write { txn in _ = try txn.delete(audit.entries, head) }
        #expect(try audit.verify().problems.first?.contains("the head names entry \(head)") == true)
        try await environment.write { txn in try txn.put(audit.entries, head, newest) }
        #expect(try audit.verify().isIntact)
    }

    @Test func pruningKeepsTheRestVerifiableAndTheAnchorCannotBeForged() async throws {
        let world = try await World()
        for _ in 0..<4 { _ = try await world.request("host.kernel", "{}") }
        let cutoff = Date()
        for _ in 0..<3 { _ = try await world.request("host.kernel", "{}") }
        let before = try world.core.audit.verify()
        let removed = try await world.core.audit.prune(before: cutoff, batch: 3)
        #expect(removed >= 8)
        let after = try world.core.audit.verify()
        #expect(after.isIntact, "\(after.problems)")
        #expect(after.entriesChecked == before.entriesChecked - removed)
        #expect(after.firstSequence == UInt64(removed) + 1)

        // Moving the anchor to hide more entries needs the key.
        let audit = world.core.audit
        let anchor = try #require(try world.core.environment.read { txn in try txn.get(audit.marks, "anchor") })
        let next = try #require(try world.core.environment.read { txn in try txn.get(audit.entries, anchor.sequence) })
        try await world.core.environment.write { txn in
            _ = try txn.delete(audit.entries, anchor.sequence)
            try txn.put(audit.marks, "anchor", AuditTrail.ChainMark(sequence: anchor.sequence + 1, hash: next.entry.hash, signature: anchor.signature))
        }
        #expect(try audit.verify().problems.contains("the anchor's signature does not match (it was edited)"))
    }
}
