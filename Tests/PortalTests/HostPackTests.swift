import Foundation
import KV
@testable import Portal
import TestSupport
import Testing

/// The `host` pack for real: every one of its tools runs here with valid input and its output
/// is checked for shape and plausibility. systemd is played by a fake `systemctl` on the tools
/// path that records its argv (no test touches a real unit); network checks reach only servers
/// this test runs on 127.0.0.1. Also: the executable allow-list, links to other programs,
/// denied networks, and values that would read as options.
@Suite struct HostPackTests {
    /// A tools directory with a fake `systemctl` (records argv NUL-separated next to the run
    /// directories, answers like `systemctl show`), then the system's own directories.
    static func fakeSystemctl() throws -> String {
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("fake-systemctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try #"""
        #!/bin/sh
        printf '%s\0' "$@" > "$HOME/../systemctl-argv"
        if [ "$1" = show ]; then
          printf 'Id=%s\nDescription=Fake unit\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nNRestarts=0\n' "$5"
        fi
        """#.write(toFile: bin + "/systemctl", atomically: true, encoding: .utf8)
        chmod(bin + "/systemctl", 0o755)
        return bin
    }

    static func recordedArgv(_ world: ToolRunTests.World) throws -> [String] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: world.directory + "/tool-runs/systemctl-argv"))
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    static func approve(_ run: ToolRun, in world: ToolRunTests.World) async throws -> ToolRun {
        _ = try await world.core.runs.decide(runID: run.id, approve: true, comment: "", by: world.secondAdmin, requestID: "approve")
        return try #require(try await world.core.runs.waitUntilFinal(run.id, in: world.organization.id, timeout: .seconds(30)))
    }

    @Test func everyHostToolRunsForReal() async throws {
        let world = try await ToolRunTests.World(toolPath: [try Self.fakeSystemctl(), "/usr/bin", "/bin"])
        let server = try LoopbackHTTPServer(status: 200, body: "healthy")
        defer { server.stop() }
        var exercised: Set<String> = []
        func run(_ tool: String, _ input: String, as principal: Principal? = nil) async throws -> ToolRun {
            exercised.insert(tool)
            let run = try await world.request(tool, input, as: principal ?? world.admin)
            return run
        }
        func output(_ run: ToolRun, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONAny {
            #expect(run.status == .succeeded, "\(run.tool): \(run.output?.error ?? "")", sourceLocation: sourceLocation)
            return try #require(run.output?.json, "\(run.tool) answers JSON", sourceLocation: sourceLocation)
        }

        let disks = try output(try await run("host.disk-usage", "{}"))
        let filesystems = try #require(disks["filesystems"]?.array)
        #expect(!filesystems.isEmpty)
        for filesystem in filesystems {
            let used = try #require(filesystem["usedPercent"]?.number)
            #expect((0...100).contains(used))
            #expect((filesystem["totalBytes"]?.number ?? 0) >= (filesystem["availableBytes"]?.number ?? .infinity))
        }
        let root = try #require(try output(try await run("host.disk-usage", #"{"path":"/"}"#))["filesystems"]?.array)
        #expect(root.count == 1 && root[0]["mountPoint"] == .string("/"))

        let memory = try output(try await run("host.memory", "{}"))
        let total = try #require(memory["totalBytes"]?.number), available = try #require(memory["availableBytes"]?.number)
        #expect(total > available && available > 0)

        let load = try output(try await run("host.load", "{}"))
        #expect((load["cpus"]?.number ?? 0) >= 1 && (load["load1"]?.number ?? -1) >= 0 && (load["uptimeSeconds"]?.number ?? 0) > 0)

        let kernel = try output(try await run("host.kernel", "{}"))
        #expect(kernel["system"] == .string("Linux") && !(kernel["release"]?.string ?? "").isEmpty)

        // ps for real: this test process is among the processes.
        let processes = try await run("host.processes", #"{"sort":"pmem"}"#)
        #expect(processes.status == .succeeded, "\(processes.output?.error ?? "")")
        let lines = (processes.output?.text ?? "").split(separator: "\n")
        #expect(lines.first?.contains("PID") == true && lines.first?.contains("%MEM") == true)
        #expect(lines.contains { $0.split(separator: " ").first == Substring(String(getpid())) })

        let dns = try output(try await run("host.dns-lookup", #"{"name":"localhost"}"#))
        #expect(dns["resolved"] == .bool(true))
        #expect((dns["addresses"]?.strings ?? []).contains { $0 == "127.0.0.1" || $0 == "::1" })

        let open = try output(try await run("host.tcp-check", #"{"host":"127.0.0.1","port":\#(server.port)}"#))
        #expect(open["reachable"] == .bool(true) && open["address"] == .string("127.0.0.1"))
        let closedPort = try LoopbackHTTPServer()
        let unusedPort = closedPort.port
        closedPort.stop()
        let closed = try output(try await run("host.tcp-check", #"{"host":"127.0.0.1","port":\#(unusedPort),"timeoutSeconds":2}"#))
        #expect(closed["reachable"] == .bool(false) && (closed["error"]?.string ?? "").contains("refused"))

        let accepted = server.connections
        let http = try output(try await run("host.http-check", #"{"url":"http://localhost:\#(server.port)/health"}"#))
        #expect(http["ok"] == .bool(true) && http["status"] == .number(200) && http["bytes"] == .number(7), "\(http)")
        #expect(server.connections > accepted, "the check reached the server")

        // systemd through the fake systemctl: the unit is one argument, after "--".
        let status = try await run("host.systemd-unit-status", #"{"unit":"portal.service"}"#)
        #expect(status.status == .succeeded && (status.output?.text ?? "").contains("ActiveState=active"), "\(status.output?.error ?? "")")
        #expect(try Self.recordedArgv(world) == ["show", "--no-pager", "--property=Id,Description,LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,NRestarts", "--", "portal.service"])
        let restart = try await run("host.systemd-restart-unit", #"{"unit":"portal.service"}"#, as: world.operator_)
        #expect(restart.status == .pendingApproval && restart.risk == .high)
        #expect(try await Self.approve(restart, in: world).status == .succeeded)
        #expect(try Self.recordedArgv(world) == ["restart", "--no-block", "--", "portal.service"])

        // A real process of this test's, signalled once approved. It unblocks SIGTERM first:
        // children inherit the test runner's signal mask, which may block it.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        sleeper.arguments = ["-c", "import signal, time; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM]); time.sleep(60)"]
        try sleeper.run()
        let signal = try await run("host.signal-process", #"{"pid":\#(sleeper.processIdentifier),"signal":"TERM"}"#, as: world.operator_)
        #expect(signal.status == .pendingApproval)
        let signalled = try await Self.approve(signal, in: world)
        #expect(signalled.status == .succeeded && signalled.output?.json?["sent"] == .bool(true))
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGTERM)

        let pack = try #require(world.core.tools.shipped["host"])
        #expect(exercised == Set(pack.tools.map(\.name)), "every host tool ran: missing \(Set(pack.tools.map(\.name)).subtracting(exercised))")
        #expect(pack.tools.count == 11)
    }

    @Test func onlyAllowedExecutablesRunAndInstall() async throws {
        // At run: ps is not allowed here.
        let world = try await ToolRunTests.World(allowed: ["df", "systemctl"])
        let refused = try await world.request("host.processes", "{}")
        #expect(refused.status == .failed)
        #expect(refused.output?.error.contains("'ps' is not an allowed executable (tools.allowed_executables)") == true, "\(refused.output?.error ?? "")")
        // At install: a pack naming an executable outside the list is refused whole, with why.
        let pack = try JSONDecoder().decode(ToolPack.self, from: Data(#"""
        {"name":"shell","title":"Shell","version":"1","description":"","tools":[
          {"name":"shell.ok","title":"Disk","category":"Diagnostics","description":"","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"command","executable":"df","arguments":["-h"]}},
          {"name":"shell.run","title":"Run","category":"Diagnostics","description":"","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"command","executable":"bash","arguments":["-c","id"]}}]}
        """#.utf8))
        let root = try #require(try world.core.accounts.user(named: "root"))
        let rootPrincipal = Principal(user: root, organizationID: world.organization.id, role: nil, sessionKey: nil, csrfToken: nil)
        do {
            try await world.core.tools.install(pack, by: rootPrincipal)
            Issue.record("a pack running bash was installed")
        } catch let PortalError.invalid(reason) {
            #expect(reason.contains("shell.run") && reason.contains("'bash' is not an allowed executable"), "\(reason)")
        }
        #expect(try world.core.tools.pack(named: "shell") == nil)
        // Only system administrators install packs at all.
        await #expect(throws: PortalError.forbidden("only system administrators install tool packs")) {
            try await world.core.tools.install(pack, by: world.admin)
        }
    }

    @Test func anAllowedNameLinkedToAnotherProgramIsRefused() async throws {
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("linked-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // `ps` on the tools path is really a shell.
        try FileManager.default.createSymbolicLink(atPath: bin + "/ps", withDestinationPath: "/bin/sh")
        let world = try await ToolRunTests.World(toolPath: [bin])
        let run = try await world.request("host.processes", "{}")
        #expect(run.status == .failed)
        let error = run.output?.error ?? ""
        #expect(error.contains("\(bin)/ps leads to") && error.contains("is not an allowed executable"), "\(error)")
        // A link to the allowed program itself is fine.
        try FileManager.default.removeItem(atPath: bin + "/ps")
        try FileManager.default.createSymbolicLink(atPath: bin + "/ps", withDestinationPath: "/usr/bin/ps")
        #expect(try await world.request("host.processes", "{}").status == .succeeded)
    }

    /// Cloud metadata and other link-local addresses are refused on the resolved address,
    /// whatever the spelling, before anything is sent; the list is configurable.
    @Test func deniedNetworksAreRefusedBeforeConnecting() async throws {
        let world = try await ToolRunTests.World()
        for url in ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://2852039166/", "http://[fe80::1]/",
                    "http://100.100.100.200/latest/meta-data/"] {
            let run = try await world.request("host.http-check", #"{"url":"\#(url)"}"#)
            #expect(run.status == .failed && run.output?.error.contains("tools.denied_networks") == true, "\(url): \(run.output?.error ?? run.output?.text ?? "")")
        }
        let tcp = try await world.request("host.tcp-check", #"{"host":"169.254.169.254","port":80}"#)
        #expect(tcp.status == .failed && tcp.output?.error.contains("refused: 169.254.169.254 is 169.254.169.254, in tools.denied_networks (169.254.0.0/16)") == true,
                "\(tcp.output?.error ?? "")")

        // The check itself.
        let guardrail = AddressGuard(denied: ToolRuntimeOptions.defaultDeniedNetworks.compactMap(NetworkRange.init))
        for address in ["169.254.169.254", "169.254.0.1", "::ffff:169.254.169.254", "fe80::1", "fe80::1%eth0", "fd00:ec2::254", "168.63.129.16"] {
            #expect(guardrail.rule(for: address) != nil, "\(address)")
        }
        for address in ["127.0.0.1", "10.0.0.1", "169.255.0.1", "::1", "fd00:ec2::253", "8.8.8.8", "not an address"] {
            #expect(guardrail.rule(for: address) == nil, "\(address)")
        }

        // Configured: loopback denied too, and a server that is up is not reached.
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        let strict = try await ToolRunTests.World(deniedNetworks: ["127.0.0.0/8", "::1"])
        let refused = try await strict.request("host.http-check", #"{"url":"http://localhost:\#(server.port)/"}"#)
        #expect(refused.status == .failed && refused.output?.error.contains("tools.denied_networks") == true)
        let refusedTCP = try await strict.request("host.tcp-check", #"{"host":"127.0.0.1","port":\#(server.port)}"#)
        #expect(refusedTCP.status == .failed)
        #expect(server.connections == 0, "nothing was sent to a denied address")
    }

    /// A value that starts with "-" never reaches a program where it could read as an option:
    /// every string field of every shipped command tool is tried.
    @Test func valuesThatLookLikeOptionsNeverReachAProgram() async throws {
        let bin = try Self.fakeSystemctl()
        try #"""
        #!/bin/sh
        printf '%s\0' "$@" >> "$HOME/../oci-argv"
        echo '{"data":[]}'
        """#.write(toFile: bin + "/oci", atomically: true, encoding: .utf8)
        chmod(bin + "/oci", 0o755)
        let world = try await ToolRunTests.World(toolPath: [bin, "/usr/bin", "/bin"])
        var tried = 0
        for pack in ["host", "oci"] {
            for tool in try #require(world.core.tools.shipped[pack]).tools {
                guard case .command = tool.executor else { continue }
                let properties = tool.inputSchema["properties"]?.object ?? [:]
                for (name, property) in properties where property["type"] == .string("string") && property["enum"] == nil {
                    #expect(property["x-allow-leading-dash"] == nil, "\(tool.name).\(name) allows a leading dash")
                    guard case var .object(input) = ToolRunTests.sampleInput(for: tool) else { continue }
                    input[name] = .string("-oProxyCommand=evil")
                    tried += 1
                    do {
                        let run = try await world.core.runs.request(.init(principal: world.admin, tool: tool.name, input: .object(input), entryPoint: .api, requestID: "dash"))
                        Issue.record("\(tool.name).\(name): ran with a leading dash (\(run.status))")
                    } catch ToolError.invalidInput {
                        // Refused by the schema or by the executor's rule.
                    }
                }
            }
        }
        #expect(tried > 40, "string fields tried: \(tried)")
        for file in ["systemctl-argv", "oci-argv"] {
            let recorded = (try? Data(contentsOf: URL(fileURLWithPath: world.directory + "/tool-runs/" + file))) ?? Data()
            #expect(recorded.range(of: Data("-oProxyCommand".utf8)) == nil, "\(file)")
        }
        // An argument that starts with an input: an empty value must not leave an option behind.
        let pack = try JSONDecoder().decode(ToolPack.self, from: Data(#"""
        {"name":"disk","title":"Disk","version":"1","description":"","tools":[
          {"name":"disk.free","title":"Free","description":"","category":"Diagnostics","risk":"read",
           "inputSchema":{"type":"object","properties":{"unit":{"type":"string","maxLength":2}}},
           "executor":{"type":"command","executable":"systemctl","arguments":["show","{{input.unit}}-h"]}}]}
        """#.utf8))
        let root = Principal(user: try #require(try world.core.accounts.user(named: "root")), organizationID: world.organization.id, role: nil, sessionKey: nil, csrfToken: nil)
        try await world.core.tools.install(pack, by: root)
        try await world.core.tools.setEnabled(true, pack: "disk", by: root)
        let emptied = try await world.request("disk.free", #"{"unit":""}"#, as: world.admin)
        #expect(emptied.status == .failed && emptied.output?.error.contains("unit must not make an argument start with '-'") == true, "\(emptied.output?.error ?? "")")
        #expect(try await world.request("disk.free", #"{"unit":"a"}"#, as: world.admin).status == .succeeded)
        #expect(try Self.recordedArgv(world) == ["show", "a-h"])

        // The executor's own rule, where the schema would let the value through.
        do {
            _ = try await world.request("host.systemd-unit-status", #"{"unit":"-H"}"#, as: world.admin)
            Issue.record("a unit named -H ran")
        } catch let ToolError.invalidInput(error) {
            #expect(error.problems == [InputProblem(field: "unit", message: "must not start with '-'")])
        }
    }
}
