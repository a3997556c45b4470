import ArgumentParser
import FoundationEssentials
import KV
import Portal
import Vector

/// `portal bench chat-search`: indexes synthetic conversation turns through the real path
/// (`ChatSessions.append`: each turn stored, embedded by the built-in embedder and indexed in
/// one durable transaction), then measures search by meaning as people use it: a person
/// searching their own conversations (one partition of the index), and an admin searching
/// the whole organization's (`sessions:read-all`). Reports the time to index, the time to
/// load the index after a restart, search latency (p50, p99) and how often the ten results
/// include a turn about the same host and problem as the query's paraphrase.
struct ChatSearchBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat-search", abstract: "Index conversation turns, then search them by meaning.")

    @Option(name: .customLong("data-dir"), help: "A scratch data directory (created; must not hold a portal's data).") var dataDirectory: String
    @Option(help: "Turns to index.") var turns: Int = 100_000
    @Option(help: "People owning the conversations (each searches only their own).") var people: Int = 10
    @Option(help: "Turns per conversation.") var turnsPerSession: Int = 50
    @Option(help: "Concurrent writers while indexing.") var writers: Int = 2
    @Option(help: "Searches per kind.") var queries: Int = 1_000
    @Flag(help: "Only search: reuse the index an earlier run (same --turns and --people) left in --data-dir.") var searchOnly = false
    @Option(help: "Also write the turns' and the queries' vectors as base.fvecs and query.fvecs in this directory (for the peers' benchmark).")
    var export: String?

    func validate() throws {
        guard (1...10_000_000).contains(turns) else { throw ValidationError("--turns must be 1...10000000") }
        guard (1...1_000).contains(people), (1...10_000).contains(turnsPerSession), (1...64).contains(writers), (1...1_000_000).contains(queries) else {
            throw ValidationError("--people 1...1000, --turns-per-session 1...10000, --writers 1...64, --queries 1...1000000")
        }
    }

    func run() async throws {
        var generator = SyntheticOperations(seed: 7)
        let plan = (0..<turns).map { number in (person: number % people, text: generator.turn(number)) }
        if !searchOnly { try await index(plan) }
        try await search(plan)
        if let export { try await write(plan, to: export) }
    }

    /// The same vectors as TEXMEX files: every turn, and the paraphrase of each query.
    private func write(_ plan: [(person: Int, text: SyntheticOperations.Turn)], to directory: String) async throws {
        let embedder = HashingEmbedder()
        try TexmexFile.writeFloats(try await embedder.embed(plan.map(\.text.text)), to: directory + "/base.fvecs")
        var generator = SyntheticOperations(seed: 11)
        let paraphrases = (0..<queries).map { number in plan[(Int(generator.next() % UInt64(turns / people)) * people + number % people) % turns].text.paraphrase }
        try TexmexFile.writeFloats(try await embedder.embed(paraphrases), to: directory + "/query.fvecs")
        print("wrote \(plan.count) turn vectors and \(paraphrases.count) query vectors to \(directory)")
    }

    /// Stores and indexes every turn of `plan` through `ChatSessions.append`.
    private func index(_ plan: [(person: Int, text: SyntheticOperations.Turn)]) async throws {
        let (principals, _) = try await prepare()
        let core = try await open()

        // Index: each person's turns go to their conversations, `turnsPerSession` at a time.
        let started = ContinuousClock.now
        let writers = writers, turnsPerSession = turnsPerSession, owners = principals
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var session: [Int: TimeOrderedID] = [:]
                    var written: [Int: Int] = [:]
                    for index in stride(from: writer, to: plan.count, by: writers) {
                        let (person, text) = (plan[index].person, plan[index].text.text)
                        if written[person, default: 0] % turnsPerSession == 0 {
                            session[person] = try await core.chat.create(title: "Conversation \(index)", by: owners[person]).id
                        }
                        _ = try await core.chat.append(.user, text: text, to: session[person]!, by: owners[person])
                        written[person, default: 0] += 1
                    }
                }
            }
            try await group.waitForAll()
        }
        let indexing = ContinuousClock.now - started
        print("indexed \(turns) turns in \(rounded(indexing.timeInterval, places: 1)) s (\(rounded(Double(turns) / indexing.timeInterval, places: 0)) turns/s, "
              + "\(writers) writers): each stored, embedded and indexed in one durable transaction")
        core.environment.close()
    }

    /// Opens the data as after a restart, then searches: end to end as people do (embedding,
    /// filtered graph search, records, re-ranking), and the vector part alone side by side
    /// with an exact scan of the same partitions (the baseline), with the graph's recall@10
    /// against it.
    private func search(_ plan: [(person: Int, text: SyntheticOperations.Turn)]) async throws {
        let reopened = try await open()
        defer { reopened.environment.close() }
        if let loaded = reopened.vectorLoadTimes.first(where: { $0.name == "chat-turns" }) {
            print("loaded the index of \(loaded.nodes) turns after a restart in \(rounded(loaded.duration.timeInterval, places: 2)) s")
        }
        let (principals, admin) = try principalsAfterRestart(reopened)
        let index = try reopened.vectors.index("chat-turns")
        let embedder = HashingEmbedder()
        for (kind, searchers) in [("own conversations", principals), ("whole organization (admin)", [admin])] {
            var endToEnd: [Double] = [], exact: [Double] = []
            var graph: [Int: [Double]] = [:], agreeing: [Int: Int] = [:]
            var found = 0
            var generator = SyntheticOperations(seed: 11)
            for number in 0..<queries {
                let person = number % people
                // A paraphrase of one of this person's turns.
                let source = plan[(Int(generator.next() % UInt64(turns / people)) * people + person) % turns].text
                let searcher = searchers[number % searchers.count]
                var clock = ContinuousClock.now
                let matches = try await reopened.chat.search(source.paraphrase, for: searcher, limit: 10)
                endToEnd.append((ContinuousClock.now - clock).milliseconds)
                if matches.contains(where: { SyntheticOperations.sameTopic($0.turn.text, source) }) { found += 1 }

                let vector = try await embedder.embed([source.paraphrase])[0]
                let filter = try reopened.vectors.filter("chat-turns", partitions: try reopened.chat.searchablePartitions(for: searcher))
                clock = ContinuousClock.now
                let truth = index.exactSearch(vector, k: 40, among: filter.ids)
                exact.append((ContinuousClock.now - clock).milliseconds)
                // Synthetic turns tie often (same words, another ticket number): a hit counts
                // when it is as close as the exact tenth.
                let tenth = truth.prefix(10).last?.distance ?? .infinity
                for ef in Self.searchWidths {
                    clock = ContinuousClock.now
                    let approximate = try index.search(vector, k: 40, ef: ef, filter: filter)
                    graph[ef, default: []].append((ContinuousClock.now - clock).milliseconds)
                    agreeing[ef, default: 0] += approximate.prefix(10).filter { $0.distance <= tenth + 1e-5 }.count
                }
            }
            let p50 = { (values: [Double]) in values.sorted()[values.count / 2] }
            let p99 = { (values: [Double]) in values.sorted()[min(values.count - 1, values.count * 99 / 100)] }
            print("search, \(kind), \(queries) queries: end to end p50 \(rounded(p50(endToEnd), places: 2)) ms, p99 \(rounded(p99(endToEnd), places: 2)) ms; "
                  + "a turn on the paraphrased topic in the top 10 for \(rounded(100 * Double(found) / Double(queries), places: 1))%")
            print("  vectors only, k=40: exact scan of the same partitions (baseline) p50 \(rounded(p50(exact), places: 2)) ms, p99 \(rounded(p99(exact), places: 2)) ms")
            for ef in Self.searchWidths {
                print("  filtered graph ef=\(ef)\(ef == reopened.chat.searchWidth ? " (used)" : ""): p50 \(rounded(p50(graph[ef]!), places: 2)) ms, "
                      + "p99 \(rounded(p99(graph[ef]!), places: 2)) ms, \(rounded(p50(exact) / p50(graph[ef]!), places: 1))x the baseline's speed at p50, "
                      + "recall@10 \(rounded(Double(agreeing[ef]!) / Double(queries * 10), places: 3))")
            }
        }
    }

    static let searchWidths = [64, 128, 256]

    private func open() async throws -> PortalCore {
        try await PortalCore(environment: try KV.Environment(directory: dataDirectory), passwordHasher: PasswordHasher(iterations: 1_000))
    }

    /// A fresh data directory with an organization, `people` operators and an admin.
    private func prepare() async throws -> ([Principal], Principal) {
        let core = try await open()
        defer { core.environment.close() }
        guard try core.accounts.user(named: "bench-admin") == nil else { throw ValidationError("\(dataDirectory) already holds a benchmark; use an empty directory") }
        _ = try await core.bootstrap(adminUsername: "bench-admin", adminPassword: "bench-admin-password")
        guard let organization = try core.organizations.organization(slug: "default"), let admin = try core.accounts.user(named: "bench-admin") else {
            throw ValidationError("the first start did not create the administrator")
        }
        let adminPrincipal = Principal.member(admin, of: organization.id, as: .admin)
        for number in 0..<people {
            _ = try await core.organizations.createMember(username: "person-\(number)", displayName: "Person \(number)", password: "person-password-\(number)",
                                                          role: .operator, in: organization.id, by: adminPrincipal)
        }
        return try principalsAfterRestart(core)
    }

    private func principalsAfterRestart(_ core: PortalCore) throws -> ([Principal], Principal) {
        guard let organization = try core.organizations.organization(slug: "default"), let admin = try core.accounts.user(named: "bench-admin") else {
            throw ValidationError("no benchmark data in \(dataDirectory)")
        }
        let adminPrincipal = Principal.member(admin, of: organization.id, as: .admin)
        let people = try (0..<self.people).map { number in
            guard let user = try core.accounts.user(named: "person-\(number)") else { throw ValidationError("person-\(number) is missing") }
            return Principal.member(user, of: organization.id, as: .operator)
        }
        return (people, adminPrincipal)
    }
}

/// Synthetic operations chatter: a host and a problem per turn, worded in several ways, and
/// a paraphrase of each that shares few of its words. Deterministic for a seed.
struct SyntheticOperations {
    struct Turn: Sendable {
        let host: String
        let problem: Int
        let text: String
        let paraphrase: String
    }

    static let problems: [(said: String, paraphrase: String)] = [
        ("is running out of disk space on /var", "volume almost full"),
        ("has a very high CPU load since the deploy", "processor busy after the release"),
        ("cannot resolve DNS names of the partner API", "name lookup failing"),
        ("needs a restart of the nginx service", "bounce the web server unit"),
        ("is swapping because memory is exhausted", "out of RAM"),
        ("has a TLS certificate that expires next week", "cert about to lapse"),
        ("missed last night's backup job", "nightly backup did not complete"),
        ("cannot reach port 5432 of the database", "postgres connection refused"),
        ("shows packet loss on its network interface", "dropped packets on the NIC"),
        ("has a stuck process holding the deploy lock", "hung task blocking the rollout"),
        ("is billed far above the monthly budget", "cost overrun this month"),
        ("lost its object storage bucket permissions", "access denied on the blob store"),
    ]
    static let openers = ["Please check why", "Can you look at why", "Urgent:", "FYI,", "It seems", "Since this morning", "Customer reports that"]
    static let roles = ["db", "web", "api", "cache", "queue", "batch", "auth", "search", "mail", "proxy"]

    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { random.next() }

    mutating func turn(_ number: Int) -> Turn {
        let host = "\(Self.roles[Int(next() % UInt64(Self.roles.count))])-\(next() % 400 + 1)"
        let problem = Int(next() % UInt64(Self.problems.count))
        let opener = Self.openers[Int(next() % UInt64(Self.openers.count))]
        let text = "\(opener) \(host) \(Self.problems[problem].said) (ticket \(10_000 + number))."
        return Turn(host: host, problem: problem, text: text, paraphrase: "\(host) \(Self.problems[problem].paraphrase)")
    }

    /// Whether `text` is a turn about the same host and problem as `source`.
    static func sameTopic(_ text: String, _ source: Turn) -> Bool {
        text.contains(" \(source.host) ") && text.contains(problems[source.problem].said)
    }
}
