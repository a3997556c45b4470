import ArgumentParser
import KV
import Portal

/// `portal audit verify`: recomputes the audit trail's chain from the data file.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with the tamper-evident audit trail.",
        subcommands: [AuditVerifyCommand.self]
    )
}

/// Exits 0 when every kept entry verifies, 1 naming each problem otherwise (an edited,
/// deleted, inserted or reordered entry, a forged anchor or head). Needs `master.key`.
struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the audit trail's HMAC chain; exits non-zero on any edited, deleted or reordered entry."
    )

    @OptionGroup var options: ConfigurationOptions
    @Flag(help: "Have the portal `portal login` stored check its own trail (a key with audit:read) instead of reading a data directory.") var remote = false

    func run() async throws {
        if remote { return try await verifyRemote() }
        let configuration = try options.load()
        let environment = try openExistingStorage(configuration)
        defer { environment.close() }
        let result: AuditTrail.Verification
        do {
            result = try await PortalCore(environment: environment).audit.verify()
        } catch {
            printError("portal: audit verify failed: \(error)")
            throw ExitCode(1)
        }
        guard result.isIntact else {
            for problem in result.problems { printError("problem: \(problem)") }
            printError("audit: NOT intact (\(result.problems.count) problem(s) in \(result.entriesChecked) entries)")
            throw ExitCode(1)
        }
        let range = result.firstSequence.map { "entries \($0)–\(result.headSequence)" } ?? "no entries"
        print("audit: intact: \(result.entriesChecked) entries verified (\(range)); head \(result.headHash)")
    }

    /// The same check, made by the remote portal on its own data (`GET /api/v1/audit/verification`).
    func verifyRemote() async throws {
        let remote = try RemotePortal.fromCredentials()
        let result = try await remote.call("GET", "/api/v1/audit/verification")
        guard result["intact"]?.bool == true else {
            for problem in result["problems"]?.strings ?? [] { printError("problem: \(problem)") }
            printError("audit: NOT intact at \(remote.baseURL)")
            throw ExitCode(1)
        }
        print("audit: intact at \(remote.baseURL): \(Int(result["entriesChecked"]?.number ?? 0)) entries verified; head \(result["headHash"]?.string ?? "?")")
    }
}
