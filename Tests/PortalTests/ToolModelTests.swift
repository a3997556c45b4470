import Foundation
import KV
import Testing
@testable import Portal

/// The tool model: input schemas, pack manifests, templates, and the process runner that
/// command tools use.
@Suite struct ToolModelTests {
    func json(_ text: String) -> JSONAny { JSONAny(json: Array(text.utf8))! }

    @Test func schemaValidationNamesEveryFieldAtFault() throws {
        let schema = try JSONSchema(json(#"""
        {"type":"object","additionalProperties":false,"required":["host","port"],"properties":{
          "host":{"type":"string","format":"host"},
          "port":{"type":"integer","minimum":1,"maximum":65535},
          "mode":{"type":"string","enum":["fast","slow"],"default":"fast"},
          "tags":{"type":"array","items":{"type":"string","pattern":"^[a-z]+$"},"maxItems":3,"uniqueItems":true},
          "ratio":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},
          "name":{"type":"string","minLength":1,"maxLength":5}}}
        """#))
        let prepared = try schema.prepare(json(#"{"host":"db.example.com","port":5432}"#))
        #expect(prepared["mode"] == .string("fast"), "defaults are filled")

        func fields(_ input: String) -> [String] {
            schema.problems(in: json(input)).map(\.field)
        }
        #expect(fields(#"{"port":80}"#) == ["host"])
        #expect(fields(#"{"host":"a b","port":80}"#) == ["host"])
        #expect(fields(#"{"host":"10.0.0.300","port":80}"#) == ["host"])
        #expect(fields(#"{"host":"::1","port":0}"#) == ["port"])
        #expect(fields(#"{"host":"x","port":1.5}"#) == ["port"])
        #expect(fields(#"{"host":"x","port":"80"}"#) == ["port"])
        #expect(fields(#"{"host":"x","port":80,"mode":"turbo"}"#) == ["mode"])
        #expect(fields(#"{"host":"x","port":80,"tags":["a","B"]}"#) == ["tags[1]"])
        #expect(fields(#"{"host":"x","port":80,"tags":["a","a"]}"#) == ["tags"])
        #expect(fields(#"{"host":"x","port":80,"tags":["a","b","c","d"]}"#) == ["tags"])
        #expect(fields(#"{"host":"x","port":80,"ratio":1}"#) == ["ratio"])
        #expect(fields(#"{"host":"x","port":80,"name":""}"#) == ["name"])
        #expect(fields(#"{"host":"x","port":80,"name":"toolong"}"#) == ["name"])
        #expect(fields(#"{"host":"x","port":80,"extra":1}"#) == ["extra"])
        #expect(fields(#"[1]"#) == ["(input)"])
        #expect(fields(#"{"port":70000,"mode":1}"#).sorted() == ["host", "mode", "port"], "every problem, not just the first")
        do {
            _ = try schema.prepare(json(#"{"host":"x","port":0}"#))
            Issue.record("invalid input was accepted")
        } catch {
            #expect(error.description == "port must be at least 1")
        }
    }

    @Test func schemasUsingUnsupportedKeywordsAreRefused() {
        for bad in [#"{"type":"object","oneOf":[]}"#, ##"{"$ref":"#/x"}"##, #"{"type":"strin"}"#, #"{"pattern":"("}"#,
                    #"{"format":"email"}"#, #"{"minLength":-1}"#, #"{"properties":{"a":{"if":{}}}}"#, #"[]"#] {
            #expect(throws: SchemaError.self, "\(bad)") { try JSONSchema(json(bad)) }
        }
        #expect(throws: Never.self) { try JSONSchema(json(#"{"type":"object","title":"t","x-widget":"select","description":"d"}"#)) }
    }

    @Test func formats() {
        for (text, format, valid) in [
            ("example.com", "hostname", true), ("-bad.com", "hostname", false), ("a..b", "hostname", false),
            ("192.168.0.1", "ipv4", true), ("192.168.0.01", "ipv4", false), ("1.2.3", "ipv4", false),
            ("::1", "ipv6", true), ("2001:db8::8a2e:370:7334", "ipv6", true), ("1::2::3", "ipv6", false), ("::ffff:10.0.0.1", "ipv6", true),
            ("https://x.example/a?b", "uri", true), ("ftp://x", "uri", false), ("https://", "uri", false),
            ("ocid1.instance.oc1.phx.abcd", "ocid", true), ("ocid1.instance", "ocid", false), ("ocid1.a.b.c.d;rm", "ocid", false),
        ] {
            #expect(JSONSchema.matches(text, format: format) == valid, "\(text) as \(format)")
        }
    }

    @Test func shippedPacksAreValidAndCoverTheirServices() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-tools-\(UUID().uuidString)").path
        let core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000))
        let oci = try #require(core.tools.shipped["oci"]), host = try #require(core.tools.shipped["host"])
        #expect(oci.tools.count >= 60)
        let categories = Set(oci.tools.map(\.category))
        for category in ["Compute", "Block storage", "Object storage", "Networking", "Databases", "Identity", "Monitoring", "Cost"] {
            #expect(categories.contains(category), "oci covers \(category)")
        }
        for tool in oci.tools {
            let verb = tool.name.split(separator: ".").last!
            if ["list", "get", "head", "status", "summary", "summarize", "rules", "backend-health", "list-vnics", "api-keys"].contains(String(verb)) {
                #expect(tool.risk == .read, "\(tool.name) only reads")
            }
            if ["delete", "terminate"].contains(String(verb)) { #expect(tool.risk == .destructive, "\(tool.name) destroys") }
            if ["start", "stop", "resize", "scale", "reset"].contains(String(verb)) { #expect(tool.risk >= .medium, "\(tool.name) changes state") }
        }
        let hostNames = Set(host.tools.map(\.name))
        for name in ["host.disk-usage", "host.memory", "host.processes", "host.dns-lookup", "host.tcp-check", "host.http-check", "host.systemd-unit-status"] {
            #expect(hostNames.contains(name))
        }
        for tool in host.tools {
            if case let .builtin(name) = tool.executor { #expect(BuiltinTools.names.contains(name), "\(name) is implemented") }
        }
    }

    @Test func packsThatBreakARuleAreRefusedWhole() throws {
        func pack(_ tool: String) throws -> ToolPack {
            try JSONDecoder().decode(ToolPack.self, from: Data(#"{"name":"x","title":"X","version":"1","description":"","tools":[\#(tool)]}"#.utf8))
        }
        let good = #"{"name":"x.ok","title":"T","description":"","category":"C","risk":"read","inputSchema":{"type":"object","properties":{"a":{"type":"string"}}},"executor":{"type":"command","executable":"df","arguments":["{{input.a}}"]}}"#
        try pack(good).validate()
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "x.ok", with: "y.ok"), "names are"),
            (good.replacingOccurrences(of: "{{input.a}}", with: "{{input.b}}"), "does not declare"),
            (good.replacingOccurrences(of: "{{input.a}}", with: "{{env.HOME}}"), "malformed template"),
            (good.replacingOccurrences(of: "{{input.a}}", with: "{{secret.token}}"), "only be used in HTTP headers"),
            (good.replacingOccurrences(of: #""executable":"df""#, with: #""executable":"/bin/sh""#), "not a path"),
            (good.replacingOccurrences(of: #"{"type":"command","executable":"df","arguments":["{{input.a}}"]}"#, with: #"{"type":"builtin","name":"host.nope"}"#), "no builtin tool"),
            (good.replacingOccurrences(of: #""type":"object","#, with: #""type":"string","#), "type object"),
            (#"{"name":"x.h","title":"T","description":"","category":"C","risk":"read","inputSchema":{"type":"object","properties":{"host":{"type":"string"}}},"executor":{"type":"http","request":{"url":"https://{{input.host}}/x"}}}"#, "host must be literal"),
            (#"{"name":"x.h","title":"T","description":"","category":"C","risk":"read","inputSchema":{"type":"object"},"executor":{"type":"http","request":{"url":"https://api.example/x?k={{secret.k}}"}}}"#, "only be used in HTTP headers"),
        ]
        for (tool, message) in cases {
            do {
                try pack(tool).validate()
                Issue.record("accepted: \(tool)")
            } catch let error as PackError {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }

    // MARK: Process runner

    func script(_ body: String) throws -> (path: String, directory: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/tool.sh"
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return (path, directory)
    }

    @Test func argumentsReachTheProgramVerbatimWithACleanEnvironment() async throws {
        let (path, directory) = try script(#"for a in "$@"; do printf '[%s]\n' "$a"; done; pwd; env | sort"#)
        let hostile = ["a b", "$(touch /tmp/pwned)", "; rm -rf /", "`id`", "", "'\"", "*"]
        setenv("PORTAL_TEST_LEAK", "leaked", 1)
        let outcome = try await ProcessRunner().run(executable: path, arguments: hostile, environment: ["PATH": "/usr/bin:/bin", "ONLY": "this"],
                                                    directory: directory, timeout: .seconds(10), maxOutputBytes: 65536)
        let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(outcome.exitCode == 0 && !outcome.timedOut && !outcome.truncated)
        #expect(Array(lines.prefix(hostile.count)) == hostile.map { "[\($0)]" })
        #expect(lines[hostile.count] == directory)
        #expect(lines.contains("ONLY=this"))
        #expect(!lines.contains { $0.contains("PORTAL_TEST_LEAK") }, "nothing is inherited")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
    }

    @Test func aProgramPastItsDeadlineIsKilledWithItsChildren() async throws {
        let (path, directory) = try script("sleep 300 & echo $! > child.pid; wait")
        let outcome = try await ProcessRunner().run(executable: path, arguments: [], environment: ["PATH": "/usr/bin:/bin"], directory: directory,
                                                    timeout: .milliseconds(500), maxOutputBytes: 1024)
        #expect(outcome.timedOut)
        #expect(outcome.signal == SIGKILL)
        let child = try #require(Int32(String(contentsOfFile: directory + "/child.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Killed with the group: gone, or a zombie waiting for init to reap it.
        let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
        #expect(state == nil || state == "Z", "the grandchild is \(state.map(String.init) ?? "gone")")
    }

    @Test func outputBeyondTheLimitIsCutAndTheProgramStopped() async throws {
        let (path, directory) = try script("yes portal")
        let outcome = try await ProcessRunner().run(executable: path, arguments: [], environment: ["PATH": "/usr/bin:/bin"], directory: directory,
                                                    timeout: .seconds(10), maxOutputBytes: 10_000)
        #expect(outcome.truncated && !outcome.timedOut)
        #expect(outcome.stdout.count == 10_000)
        #expect(outcome.signal == SIGKILL)
    }

    /// Waiting for processes blocks threads: more concurrent runs than cores must all proceed
    /// (each sleeps until the others have started, which deadlocks if waits share a small pool).
    @Test func moreConcurrentRunsThanCoresAllProceed() async throws {
        let (path, directory) = try script(#"touch "started-$1"; n=0; while [ "$(ls started-* | wc -l)" -lt "$2" ]; do n=$((n+1)); [ $n -gt 2000 ] && exit 3; sleep 0.01; done"#)
        let count = 8
        let outcomes = try await withThrowingTaskGroup(of: ProcessRunner.Outcome.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await ProcessRunner().run(executable: path, arguments: ["\(index)", "\(count)"], environment: ["PATH": "/usr/bin:/bin"],
                                                  directory: directory, timeout: .seconds(60), maxOutputBytes: 1024)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(!outcomes.isEmpty && outcomes.allSatisfy { $0.exitCode == 0 }, "\(outcomes.map(\.exitCode))")
    }

    @Test func aMissingExecutableIsATypedError() async {
        await #expect(throws: ToolError.self) {
            try await ProcessRunner().run(executable: "/nonexistent/tool", arguments: [], environment: [:], directory: "/tmp", timeout: .seconds(1), maxOutputBytes: 10)
        }
    }
}
