import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal

/// Opens the data directory of an existing installation; refuses one without data, so a typo
/// in `--data-dir` never creates an empty store that then looks healthy.
func openExistingStorage(_ configuration: PortalConfiguration) throws -> KV.Environment {
    let directory = configuration.dataDirectory
    guard access(directory + "/data.mdb", F_OK) == 0 else {
        printError("portal: \(directory) holds no portal data (no data.mdb)")
        throw ExitCode(66)
    }
    do {
        return try KV.Environment(directory: directory, options: configuration.storageOptions)
    } catch {
        printError("portal: cannot open \(directory): \(error)")
        throw ExitCode(74)
    }
}

/// `portal backup FILE`: a hot, consistent, compressed copy of the data directory.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a hot, consistent, compressed backup of the data directory to FILE (the portal may keep running)."
    )

    @Argument(help: "The backup file to write.") var file: String
    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let environment = try openExistingStorage(try options.load())
        defer { environment.close() }
        do {
            let header = try Backup.create(of: environment, to: file, schemaVersion: try environment.schemaVersion())
            print("portal: backup written to \(file) (schema \(header.schemaVersion), \(header.payloadBytes) compressed bytes)")
        } catch {
            printError("portal: backup failed: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `portal restore FILE`: restores a backup into an empty data directory.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup FILE into an empty data directory, after checking its checksum and schema version."
    )

    @Argument(help: "The backup file to restore.") var file: String
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try options.load()
        let header: Backup.Header
        do {
            header = try Backup.restore(from: file, into: configuration.dataDirectory, supportedSchemaVersion: PortalCore.schemaVersion)
        } catch {
            printError("portal: restore refused: \(error)")
            throw ExitCode(1)
        }
        let report = try await CheckCommand.checkedReport(configuration)
        print("portal: restored \(file) into \(configuration.dataDirectory) (schema \(header.schemaVersion)); "
            + "\(report.rowsByTable.values.reduce(0, +)) records checked")
    }
}

/// `portal check`: decodes every record, proves every index matches its table, prints statistics.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Decode every record, prove every index matches its table, and report storage statistics; exits non-zero on any problem."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let report = try await Self.checkedReport(try options.load())
        let statistics = report.statistics
        for (table, rows) in report.rowsByTable.sorted(by: { $0.key < $1.key }) {
            print("table \(table): \(rows) records")
        }
        for name in report.unknownDatabases { print("note: database \(name) is not used by this version") }
        print("storage: map \(statistics.mapSize) bytes, \(statistics.usedBytes) in use, page \(statistics.pageSize) bytes, "
            + "\(statistics.branchPages) branch / \(statistics.leafPages) leaf / \(statistics.overflowPages) overflow pages, "
            + "readers \(statistics.readersInUse)/\(statistics.maximumReaders)")
        print("check: ok")
    }

    /// Opens the domain (which opens and registers every table) and checks it; exits 1 on problems.
    static func checkedReport(_ configuration: PortalConfiguration) async throws -> CheckReport {
        let environment = try openExistingStorage(configuration)
        defer { environment.close() }
        let report: CheckReport
        var vectorProblems: [String] = []
        do {
            let core = try await PortalCore(environment: environment)
            report = try environment.check()
            vectorProblems = try core.vectors.check()
        } catch {
            printError("portal: check failed: \(error)")
            throw ExitCode(1)
        }
        let problems = report.problems + vectorProblems
        guard problems.isEmpty else {
            for problem in problems { printError("problem: \(problem)") }
            printError("check: \(problems.count) problem(s)")
            throw ExitCode(1)
        }
        return report
    }
}
