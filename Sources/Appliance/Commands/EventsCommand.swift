import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal
import ServiceLifecycle

/// `portal events`: the transactional outbox in the data directory — its entries, named
/// consumers' cursors, and a consumer for scripts. Works beside a running portal (LMDB allows
/// other processes to read and write the same data directory).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read the outbox of domain events, consume it under a named cursor, list the cursors.",
        subcommands: [EventsListCommand.self, EventsConsumeCommand.self, EventsCursorsCommand.self, EventsForgetCommand.self]
    )

    /// Opens the domain on an existing data directory, as `portal audit verify` does: schema
    /// migrations run only if this binary is newer than the data; nothing else is written.
    static func openCore(_ options: ConfigurationOptions) async throws -> PortalCore {
        let environment = try openExistingStorage(try options.load())
        do {
            return try await PortalCore(environment: environment)
        } catch {
            environment.close()
            printError("portal: cannot open the portal's data: \(error)")
            throw ExitCode(1)
        }
    }

    /// The entries as JSON lines on standard output, flushed before returning.
    static func printLines(_ entries: [OutboxEntry]) throws {
        let encoder = EventLine.encoder
        var text = ""
        for entry in entries {
            text += String(decoding: try encoder.encode(EventLine(entry, encoder: encoder)), as: UTF8.self) + "\n"
        }
        print(text, terminator: "")
        fflush(nil)
    }
}

/// One outbox entry as a JSON line: `sequence`, `time` (ISO 8601), `kind` (the event's dotted
/// name), `organizationID`, `requestID` (null when none) and `payload` (the event's payload as
/// the event stream and consumers see it).
struct EventLine: Encodable {
    let sequence: UInt64
    let time: Date
    let kind: String
    let organizationID: UUID?
    let requestID: String?
    let payload: JSONAny

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    init(_ entry: OutboxEntry, encoder: JSONEncoder) throws {
        sequence = entry.sequence
        time = entry.time
        kind = entry.event.kind.rawValue
        organizationID = entry.organizationID
        requestID = entry.requestID
        // A `DomainEvent` encodes as {"kind": ..., "payload": ...}; keep the payload as it is.
        let event = try JSONDecoder().decode([String: JSONAny].self, from: try encoder.encode(entry.event))
        payload = event["payload"] ?? .null
    }

    private enum CodingKeys: String, CodingKey { case sequence, time, kind, organizationID, requestID, payload }

    /// Every key is written, with null for an absent value, so each line has the same shape.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(time, forKey: .time)
        try container.encode(kind, forKey: .kind)
        try container.encode(organizationID, forKey: .organizationID)
        try container.encode(requestID, forKey: .requestID)
        try container.encode(payload, forKey: .payload)
    }
}

/// `portal events list`: entries after a sequence number; reads only.
struct EventsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print the outbox entries after a sequence number as JSON lines (reads only; moves no cursor).",
        discussion: """
        Each line holds sequence, time, kind, organizationID, requestID and payload. Entries are \
        numbered without gaps in commit order; those every consumer has passed are pruned after \
        events.retention_hours.
        """
    )

    @Option(help: "Print the entries after this sequence number (0: from the oldest kept).") var after: UInt64 = 0
    @Option(help: "At most this many entries.") var limit: Int = 100
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be 1...1000000") }
    }

    func run() async throws {
        let core = try await EventsCommand.openCore(options)
        defer { core.environment.close() }
        let entries: [OutboxEntry]
        do {
            entries = try core.outbox.entries(after: after, limit: limit)
        } catch {
            printError("portal: events list failed: \(error)")
            throw ExitCode(1)
        }
        try EventsCommand.printLines(entries)
    }
}

/// `portal events consume`: a durable consumer for scripts, under its own name.
struct EventsConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Take a named consumer's next outbox entries, move its cursor past them, then print them as JSON lines.",
        discussion: """
        The consumer's cursor is kept in the data directory under --consumer. A new name starts \
        at 0, that is from the oldest entry kept (not from the newest, as the portal's own \
        consumers do). The entries are read and the cursor is moved past them in one durable \
        write transaction; they are printed only after that transaction committed.

        So the cursor moves exactly once per entry: runs of the same consumer never hand out \
        an entry twice, even concurrently or beside a running portal. The printed copy is at \
        most once: if this process dies, or its output is lost, after the commit, those entries \
        are not printed again (read them back with `portal events list --after N`). Prints \
        nothing when the consumer is up to date; a summary goes to standard error.

        The portal's own consumers' names are refused: taking their entries would keep them \
        from the portal. Entries are pruned only once every consumer has passed them: remove a \
        consumer you no longer run with `portal events forget`.
        """
    )

    @Option(help: "The consumer's name (its cursor is stored under it).") var consumer: String
    @Option(help: "At most this many entries.") var limit: Int = 100
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard (1...200).contains(consumer.count), !consumer.hasPrefix("~"), !consumer.contains(where: { $0.isNewline }) else {
            throw ValidationError("--consumer must be 1–200 characters on one line and must not start with ~")
        }
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be 1...100000") }
    }

    func run() async throws {
        let core = try await EventsCommand.openCore(options)
        defer { core.environment.close() }
        let own = core.services.compactMap { ($0 as? EventConsumer)?.name }
        guard !own.contains(consumer) else {
            printError("portal: \(consumer) is one of the portal's own consumers (\(own.joined(separator: ", "))); choose another name")
            throw ExitCode(64)
        }
        let consumed: [OutboxEntry]
        do {
            try await core.outbox.register(consumer, from: 0)
            consumed = try await core.outbox.consume(consumer, limit: limit)
        } catch {
            printError("portal: events consume failed: \(error)")
            throw ExitCode(1)
        }
        // The cursor has committed: from here on, these entries belong to this run's output.
        try EventsCommand.printLines(consumed)
        if let last = consumed.last {
            printError("events: \(consumer) consumed \(consumed.count) entries (\(consumed[0].sequence)–\(last.sequence)); its cursor is at \(last.sequence)")
        } else {
            printError("events: \(consumer) is up to date")
        }
    }
}

/// `portal events cursors`: where each consumer stands.
struct EventsCursorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cursors",
        abstract: "Print the newest outbox sequence and each consumer's cursor (the last sequence it acknowledged)."
    )

    @Flag(help: "Print one JSON object: {\"newest\": N, \"consumers\": {\"name\": N, ...}}.") var json = false
    @OptionGroup var options: ConfigurationOptions

    struct Positions: Encodable {
        let newest: UInt64
        let consumers: [String: UInt64]
    }

    func run() async throws {
        let core = try await EventsCommand.openCore(options)
        defer { core.environment.close() }
        let positions: (consumers: [String: UInt64], newest: UInt64)
        do {
            positions = try core.outbox.consumerCursors()
        } catch {
            printError("portal: events cursors failed: \(error)")
            throw ExitCode(1)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Positions(newest: positions.newest, consumers: positions.consumers)), as: UTF8.self))
            return
        }
        print("newest \(positions.newest)")
        for (name, sequence) in positions.consumers.sorted(by: { $0.key < $1.key }) {
            print("consumer \(name) at \(sequence) (\(positions.newest > sequence ? positions.newest - sequence : 0) behind)")
        }
    }
}

/// `portal events forget`: removes a consumer's cursor, so that entries it never consumed can
/// be pruned (a consumer that is no longer run would otherwise hold them forever).
struct EventsForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Remove a consumer's cursor (entries are kept until every consumer passed them)."
    )

    @Option(help: "The consumer's name.") var consumer: String
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let core = try await EventsCommand.openCore(options)
        defer { core.environment.close() }
        let own = core.services.compactMap { ($0 as? EventConsumer)?.name }
        guard !own.contains(consumer) else {
            printError("portal: \(consumer) is one of the portal's own consumers; it is registered again at the next start")
            throw ExitCode(64)
        }
        guard try await core.outbox.forget(consumer) else {
            printError("portal: no consumer named \(consumer)")
            throw ExitCode(1)
        }
        printError("events: \(consumer) forgotten")
    }
}
