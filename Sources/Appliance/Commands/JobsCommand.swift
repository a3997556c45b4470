import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal

/// `portal jobs`: the durable background jobs in the data directory.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Inspect the durable background jobs and timers.",
        subcommands: [JobsListCommand.self]
    )
}

/// `portal jobs list`: every job (or those in one state) as JSON lines; reads only.
struct JobsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print the background jobs as JSON lines, oldest first (reads only).",
        discussion: """
        Each line holds id, kind, state, attempts, maxAttempts, dueAt, leaseUntil, lastError, \
        idempotencyKey, createdAt and updatedAt. A running job whose leaseUntil has passed \
        belonged to a worker that stopped; the portal claims it again (attempts + 1).
        """
    )

    @Option(help: "Only jobs in this state: pending, running, succeeded, dead or cancelled.") var state: String?
    @Option(help: "At most this many jobs.") var limit: Int = 100_000
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        if let state, Job.State(rawValue: state) == nil {
            throw ValidationError("--state must be pending, running, succeeded, dead or cancelled")
        }
        guard (1...10_000_000).contains(limit) else { throw ValidationError("--limit must be 1...10000000") }
    }

    func run() async throws {
        let core = try await EventsCommand.openCore(options)
        defer { core.environment.close() }
        let found: [Job]
        do {
            found = try core.jobs.jobs(in: state.flatMap(Job.State.init(rawValue:)), limit: limit)
        } catch {
            printError("portal: jobs list failed: \(error)")
            throw ExitCode(1)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var text = ""
        for job in found {
            text += String(decoding: try encoder.encode(JobLine(job)), as: UTF8.self) + "\n"
        }
        print(text, terminator: "")
        fflush(nil)
    }
}

/// One job as a JSON line; every key is written, null when absent.
struct JobLine: Encodable {
    let job: Job

    init(_ job: Job) { self.job = job }

    private enum CodingKeys: String, CodingKey {
        case id, kind, state, attempts, maxAttempts, dueAt, leaseUntil, lastError, idempotencyKey, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(job.id, forKey: .id)
        try container.encode(job.kind, forKey: .kind)
        try container.encode(job.state.rawValue, forKey: .state)
        try container.encode(job.attempts, forKey: .attempts)
        try container.encode(job.maxAttempts, forKey: .maxAttempts)
        try container.encode(job.dueAt, forKey: .dueAt)
        try container.encode(job.leaseUntil, forKey: .leaseUntil)
        try container.encode(job.lastError, forKey: .lastError)
        try container.encode(job.idempotencyKey, forKey: .idempotencyKey)
        try container.encode(job.createdAt, forKey: .createdAt)
        try container.encode(job.updatedAt, forKey: .updatedAt)
    }
}
