import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal
import Vector

/// `portal bench vector`: builds the HNSW index on a TEXMEX data set (`base.fvecs`,
/// `query.fvecs`, `groundtruth.ivecs`), then for each ef runs every query on one thread and
/// reports recall@k and queries per second, with build time and resident memory. `--out`
/// writes the result ids (ivecs) for `shared/bench/bench_peers.py --score`.
struct VectorBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vector", abstract: "Recall and QPS of the vector index on a TEXMEX data set.")

    @Option(help: "Base vectors (fvecs).") var base: String
    @Option(help: "Query vectors (fvecs).") var query: String
    @Option(help: "Ground-truth neighbour ids (ivecs).") var gt: String?
    @Option(name: .customLong("M"), help: "Links per node.") var m: Int = 16
    @Option(help: "efConstruction.") var efc: Int = 200
    @Option(help: "Comma-separated ef values to search with.") var ef: String = "10,20,40,80,160"
    @Option(help: "Neighbours per query.") var k: Int = 10
    @Option(help: "Metric: cosine, innerProduct or squaredL2.") var metric: String = "cosine"
    @Option(help: "Write the result ids of the last ef (ivecs).") var out: String?
    @Option(help: "Threads inserting the base vectors.") var threads: Int = 1
    @Option(help: "What searches walk the graph with: float32, or int8 (codes, re-ranked in float32).") var traversal: String = "float32"
    @Option(help: "Query passes per ef; the median and the best are reported.") var runs: Int = 3
    @Option(name: .customLong("filter-sweep"), help: "Comma-separated filter selectivities (e.g. 0.001,0.01): times filtered search by graph and by exact scan at each, to place the exact-scan threshold.") var filterSweep: String?
    @Option(name: .customLong("data-dir"), help: "Keep the index in this data directory: build and store it on the first run, load it on later runs (reports the load time).") var dataDirectory: String?

    static let collection = "bench"

    func run() async throws {
        guard let metric = Metric(rawValue: metric) else { throw ValidationError("unknown metric \(metric)") }
        let efs = ef.split(separator: ",").compactMap { Int($0) }
        guard !efs.isEmpty, efs.allSatisfy({ $0 > 0 }) else { throw ValidationError("--ef takes positive integers, e.g. 10,20,40") }
        let (queries, dimension) = try TexmexFile.readFloats(query)
        let truth = try gt.map { try TexmexFile.readInts($0).vectors }

        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard let traversal = Traversal(rawValue: traversal) else { throw ValidationError("--traversal is float32 or int8, not \(traversal)") }
        let parameters = HNSWParameters(m: m, efConstruction: efc, efSearch: efs[0], traversal: traversal)
        let index: HNSWIndex
        if let dataDirectory {
            let environment = try KV.Environment(directory: dataDirectory)
            defer { environment.close() }
            let core = try await PortalCore(environment: environment)
            if let loaded = core.vectorLoadTimes.first(where: { $0.name == Self.collection }) {
                index = try core.vectors.index(Self.collection)
                print("load: \(loaded.nodes) x \(index.dimension) from \(dataDirectory) in \(rounded(loaded.duration.timeInterval, places: 3)) s (no rebuild, \(index.parameters.traversal) traversal); "
                    + resident())
            } else {
                index = try build(base, dimension: dimension, metric: metric, parameters: parameters)
                let started = ContinuousClock.now
                try await core.vectors.importIndex(Self.collection, index) { "base-\($0)" }
                print("store: \(index.count) vectors written to \(dataDirectory) in \(rounded((ContinuousClock.now - started).timeInterval, places: 3)) s")
            }
        } else {
            index = try build(base, dimension: dimension, metric: metric, parameters: parameters)
        }
        var lastResults: [[Int32]] = []
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        for width in efs {
            var results: [[Int32]] = []
            var rates: [Double] = []
            for _ in 0..<runs {
                results.removeAll(keepingCapacity: true)
                let start = ContinuousClock.now
                for query in queries {
                    results.append(try index.search(query, k: k, ef: width).map { Int32($0.id) })
                }
                rates.append(Double(queries.count) / (ContinuousClock.now - start).timeInterval)
            }
            rates.sort()
            var line = "ef=\(width): \(Int(rates[rates.count / 2])) QPS median, \(Int(rates.last!)) best of \(runs)"
            if let truth {
                var hits = 0
                for (answer, expected) in zip(results, truth) { hits += Set(answer).intersection(expected.prefix(k)).count }
                line += ", recall@\(k) \(rounded(Double(hits) / Double(queries.count * k), places: 3))"
            }
            print(line)
            lastResults = results
        }
        if let out { try TexmexFile.writeInts(lastResults, to: out) }
        if let filterSweep { try sweepFilters(index, queries: queries, selectivities: filterSweep) }
    }

    /// Builds the index from the base file in one bulk load (`HNSWIndex.bulkLoad`), streaming
    /// it in slices so that resident memory is the index's, and prints build time and memory.
    func build(_ base: String, dimension: Int, metric: Metric, parameters: HNSWParameters) throws -> HNSWIndex {
        let index = HNSWIndex(dimension: dimension, metric: metric, parameters: parameters)
        let buildStart = ContinuousClock.now
        let buildCodeBytes = try index.bulkLoad { () throws -> Int in
            var slice: [[Float]] = []
            try TexmexFile.forEachFloatVector(base, dimension: dimension) { vector in
                slice.append(vector)
                if slice.count == 1_024 {
                    try index.insert(contentsOf: slice, threads: threads)
                    slice.removeAll(keepingCapacity: true)
                }
            }
            try index.insert(contentsOf: slice, threads: threads)
            return index.buildCodeBytes
        }
        let buildSeconds = (ContinuousClock.now - buildStart).timeInterval
        let rawBytes = index.count * dimension * 4
        let codes = index.codeBytes > 0 ? " + int8 codes \(index.codeBytes >> 20) MiB" : ""
        let whileBuilding = buildCodeBytes > 0 ? " (int8 codes of \(buildCodeBytes >> 20) MiB while building, freed)" : ""
        print("build: \(index.count) x \(dimension) in \(rounded(buildSeconds, places: 3)) s on \(threads) thread\(threads == 1 ? "" : "s") "
            + "(M=\(m), efConstruction=\(efc)); \(resident()); raw vectors \(rawBytes >> 20) MiB + links \(index.linkBytes >> 20) MiB\(codes)\(whileBuilding)")
        return index
    }

    /// For each selectivity, a random filter of that share of the ids; every query is answered
    /// by walking the graph (at the first --ef) and by scanning the filter exactly. Prints both
    /// rates and the graph's recall against the exact answer.
    func sweepFilters(_ index: HNSWIndex, queries: [[Float]], selectivities: String) throws {
        var generator = SystemRandomNumberGenerator()
        let width = ef.split(separator: ",").compactMap { Int($0) }.first ?? 64
        for share in selectivities.split(separator: ",").compactMap({ Double($0) }) {
            let wanted = max(1, Int(Double(index.slotCount) * share))
            var filter = VectorFilter(capacity: index.slotCount)
            while filter.count < wanted { filter.insert(UInt32.random(in: 0..<UInt32(index.slotCount), using: &generator)) }
            var exactAnswers: [[UInt32]] = []
            var start = ContinuousClock.now
            for query in queries { exactAnswers.append(try index.search(query, k: k, filter: filter, strategy: .exact).map(\.id)) }
            let exactRate = Double(queries.count) / (ContinuousClock.now - start).timeInterval
            var hits = 0
            start = ContinuousClock.now
            for (query, truth) in zip(queries, exactAnswers) {
                hits += Set(try index.search(query, k: k, ef: width, filter: filter, strategy: .graph).map(\.id)).intersection(truth).count
            }
            let graphRate = Double(queries.count) / (ContinuousClock.now - start).timeInterval
            print("filter \(share) (\(wanted) ids): exact scan \(Int(exactRate)) QPS; graph ef=\(width) \(Int(graphRate)) QPS, "
                + "recall@\(k) \(rounded(Double(hits) / Double(exactAnswers.reduce(0) { $0 + $1.count }), places: 3))")
        }
    }


    /// Resident memory now, from /proc/self/status: the total (VmRSS), then the anonymous
    /// part (the index) and the pages of mapped files (the executable and libraries, about
    /// 20 MiB, plus whatever of the data file is mapped in).
    func resident() -> String {
        guard let file = fopen("/proc/self/status", "r") else { return "resident unknown" }
        defer { fclose(file) }
        var kilobytes: [String: Int] = [:]
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split { $0 == " " || $0 == "\t" || $0 == "\n" }
            if fields.count >= 2, ["VmRSS:", "RssAnon:", "RssFile:"].contains(fields[0]) { kilobytes[String(fields[0])] = Int(fields[1]) }
        }
        func mebibytes(_ key: String) -> String { kilobytes[key].map { String($0 >> 10) } ?? "?" }
        return "resident \(mebibytes("VmRSS:")) MiB (anonymous \(mebibytes("RssAnon:")), file-mapped \(mebibytes("RssFile:")))"
    }
}

/// The TEXMEX vector formats: each vector is an int32 dimension followed by that many float32
/// (fvecs) or int32 (ivecs) values, little-endian.
enum TexmexFile {
    struct FormatError: Error, CustomStringConvertible { let description: String }

    /// How many vectors of `dimension` an fvecs/ivecs file holds, from its size.
    static func count(_ path: String, dimension: Int) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FormatError(description: "\(path): cannot stat: \(String(cString: strerror(errno)))") }
        let record = 4 * (dimension + 1)
        guard Int(info.st_size) % record == 0 else { throw FormatError(description: "\(path): size is not a whole number of \(dimension)-d vectors") }
        return Int(info.st_size) / record
    }

    /// Calls `body` with each vector of an fvecs file, reading one at a time.
    static func forEachFloatVector(_ path: String, dimension: Int, _ body: ([Float]) throws -> Void) throws {
        guard let file = fopen(path, "rb") else { throw FormatError(description: "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var header: UInt32 = 0
        var words = [UInt32](repeating: 0, count: dimension)
        var index = 0
        while fread(&header, 4, 1, file) == 1 {
            guard Int(UInt32(littleEndian: header)) == dimension else {
                throw FormatError(description: "\(path): vector \(index) has dimension \(UInt32(littleEndian: header)), expected \(dimension)")
            }
            guard fread(&words, 4, dimension, file) == dimension else { throw FormatError(description: "\(path): truncated at vector \(index)") }
            try body(words.map { Float(bitPattern: UInt32(littleEndian: $0)) })
            index += 1
        }
    }

    static func readFloats(_ path: String) throws -> (vectors: [[Float]], dimension: Int) {
        let (words, dimension) = try readWords(path)
        return (words.map { $0.map { Float(bitPattern: $0) } }, dimension)
    }

    static func readInts(_ path: String) throws -> (vectors: [[Int32]], dimension: Int) {
        let (words, dimension) = try readWords(path)
        return (words.map { $0.map { Int32(bitPattern: $0) } }, dimension)
    }

    private static func readWords(_ path: String) throws -> ([[UInt32]], Int) {
        guard let file = fopen(path, "rb") else { throw FormatError(description: "\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var vectors: [[UInt32]] = []
        var dimension = -1
        var header: UInt32 = 0
        while fread(&header, 4, 1, file) == 1 {
            let d = Int(UInt32(littleEndian: header))
            guard d > 0, d <= 1 << 16, dimension == -1 || d == dimension else {
                throw FormatError(description: "\(path): vector \(vectors.count) has dimension \(d), expected \(dimension)")
            }
            dimension = d
            var vector = [UInt32](repeating: 0, count: d)
            guard fread(&vector, 4, d, file) == d else { throw FormatError(description: "\(path): truncated at vector \(vectors.count)") }
            vectors.append(vector.map { UInt32(littleEndian: $0) })
        }
        guard dimension > 0 else { throw FormatError(description: "\(path): no vectors") }
        return (vectors, dimension)
    }

    /// Rows padded with -1 to the longest.
    static func writeInts(_ rows: [[Int32]], to path: String) throws {
        let width = rows.map(\.count).max() ?? 0
        try writeWords(rows.map { ($0 + Array(repeating: -1, count: width - $0.count)).map { UInt32(bitPattern: $0) } }, to: path)
    }

    static func writeFloats(_ rows: [[Float]], to path: String) throws {
        try writeWords(rows.map { $0.map(\.bitPattern) }, to: path)
    }

    private static func writeWords(_ rows: [[UInt32]], to path: String) throws {
        guard let file = fopen(path, "wb") else { throw FormatError(description: "\(path): cannot create: \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        for row in rows {
            var words = [UInt32(row.count).littleEndian] + row.map(\.littleEndian)
            guard fwrite(&words, 4, words.count, file) == words.count else { throw FormatError(description: "\(path): write failed") }
        }
    }
}
