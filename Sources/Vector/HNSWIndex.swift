import CVectorSupport
import Synchronization

/// Parameters of an HNSW graph (Malkov & Yashunin, 2018).
public struct HNSWParameters: Sendable, Equatable, Codable {
    /// Neighbours per node on the upper layers; layer 0 keeps `2 * m`.
    public var m: Int
    /// Candidate-list size while inserting.
    public var efConstruction: Int
    /// Default candidate-list size while searching (raised to `k` when smaller).
    public var efSearch: Int
    /// Seeds the level draws, so the same inserts (in or out of a bulk load) build the same graph.
    public var seed: UInt64
    /// What searches walk the graph with (float32 vectors, or int8 codes re-ranked in float32);
    /// with int8, inserts look for their candidates on the codes too.
    public var traversal: Traversal
    /// A filtered search that admits fewer ids than this scans them exactly instead of
    /// walking the graph; `nil` (the default) uses `automaticExactScanThreshold`.
    public var exactScanThreshold: Int?

    public init(
        m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42, exactScanThreshold: Int? = nil,
        traversal: Traversal = .float32
    ) {
        precondition(m >= 2 && m <= 128, "M must be between 2 and 128")
        precondition(efConstruction >= 1 && efSearch >= 1, "ef must be at least 1")
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
        self.exactScanThreshold = exactScanThreshold
        self.traversal = traversal
    }

    /// Parameters stored before `traversal` existed decode as float32 traversal.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        m = try container.decode(Int.self, forKey: .m)
        efConstruction = try container.decode(Int.self, forKey: .efConstruction)
        efSearch = try container.decode(Int.self, forKey: .efSearch)
        seed = try container.decode(UInt64.self, forKey: .seed)
        exactScanThreshold = try container.decodeIfPresent(Int.self, forKey: .exactScanThreshold)
        traversal = try container.decodeIfPresent(Traversal.self, forKey: .traversal) ?? .float32
    }
}

/// One search hit: the internal id and its distance to the query (smaller is closer).
public struct SearchResult: Sendable, Equatable {
    public let id: UInt32
    public let distance: Float
}

/// A hierarchical navigable small-world graph over float32 vectors of one dimension.
///
/// **Concurrency.** Any number of searches run concurrently with one writer, and searches take
/// no lock: they read nodes through atomics in fixed-address storage (`NodeStore` explains
/// why that is memory-safe) and register in an epoch (`ReaderEpochs`) so that a deleted
/// node's slot is reused only when no search can still hold it. Writers (insert, remove,
/// replace, repair) serialize on a mutex among themselves.
///
/// **Staging.** A writer may stage changes (`beginStaging()`): they are invisible to searches
/// until `publishStaged()` and can be undone with `rollback(to:)`. The storage layer uses
/// this to apply a vector change in the same transaction as the record that owns it and to
/// make it visible only once that transaction committed. Outside staging every write is
/// published at once.
///
/// **Deletion.** `remove` leaves a tombstone that keeps routing searches; `repairDeleted`
/// reconnects the tombstones' neighbours to each other and cuts the tombstones out, after
/// which their slots are reused by later inserts.
public final class HNSWIndex: @unchecked Sendable {
    public let dimension: Int
    public let metric: Metric
    public let parameters: HNSWParameters

    let store: NodeStore
    let epochs = ReaderEpochs()
    /// The entry point searches start from: `level << 32 | id`, or `noEntry`.
    let publishedEntry = Atomic<UInt64>(HNSWIndex.noEntry)
    static let noEntry = UInt64.max
    let writer: Mutex<WriterState>
    private let visitedPool = Mutex<[VisitedSet]>([])

    public init(dimension: Int, metric: Metric, parameters: HNSWParameters = HNSWParameters()) {
        precondition(dimension > 0, "dimension must be positive")
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        store = NodeStore(dimension: dimension, m: parameters.m, codes: parameters.traversal == .int8)
        writer = Mutex(WriterState(random: SplitMix64(seed: parameters.seed)))
    }

    /// Slots in use or reusable (ids are below this).
    public var slotCount: Int { store.slotCount.load(ordering: .acquiring) }
    /// Vectors a search can return once published.
    public var count: Int { writer.withLock { $0.liveCount } }
    /// Tombstones not yet repaired away.
    public var deletedCount: Int { writer.withLock { $0.deletedCount } }

    // MARK: Input

    /// Checks a vector and returns it as stored: normalized for cosine.
    public func prepared(_ vector: [Float]) throws(VectorError) -> [Float] {
        guard vector.count == dimension else { throw .wrongDimension(expected: dimension, got: vector.count) }
        guard vector.allSatisfy(\.isFinite) else { throw .notFinite }
        guard metric == .cosine else { return vector }
        let norm = vector.withUnsafeBufferPointer { Distance.dot($0, $0) }.squareRoot()
        guard norm > 0, norm.isFinite else { throw .zeroVector }
        return vector.map { $0 / norm }
    }

    // MARK: Distances

    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ id: UInt32) -> Float {
        floatMeasure(query).distance(id)
    }

    /// Float32 distances from `query` to stored nodes.
    func floatMeasure(_ query: UnsafePointer<Float>) -> FloatMeasure {
        FloatMeasure(query: query, store: store, metric: metric, dimension: dimension)
    }

    @inline(__always)
    func distance(_ a: UInt32, _ b: UInt32) -> Float {
        distance(store.vector(a), b)
    }

    // MARK: Search (Algorithms 2 and 5)

    func takeVisited() -> VisitedSet { visitedPool.withLock { $0.popLast() } ?? VisitedSet() }
    func giveBack(_ visited: consuming VisitedSet) { visitedPool.withLock { [visited] in $0.append(visited) } }

    /// Algorithm 2: the `ef` closest nodes to the query `measure` measures from, on `level`,
    /// found by best-first expansion from `entries`, sorted by distance. Nodes route the search
    /// when the view (reader or writer) may step on them; with `forResults`, only nodes the
    /// view may return and the filter admits are kept as results.
    func searchLayer<Measure: QueryMeasure>(
        _ measure: Measure, entries: [DistanceHeap.Entry], ef: Int, level: Int,
        writer: Bool, forResults: Bool, filter: VectorFilter? = nil, visited: inout VisitedSet
    ) -> [DistanceHeap.Entry] {
        visited.begin(capacity: store.slotCount.load(ordering: .acquiring))
        var candidates = DistanceHeap(maxHeap: false, capacity: ef * 2)
        var results = DistanceHeap(maxHeap: true, capacity: ef + 1)
        @inline(__always) func keeps(_ id: UInt32) -> Bool {
            !forResults || (store.state(id).isResult(writer: writer) && (filter?.contains(id) ?? true))
        }
        for entry in entries where visited.insert(entry.id) {
            candidates.push(entry.distance, entry.id)
            if keeps(entry.id) { results.push(entry.distance, entry.id) }
        }
        var knownSlots = store.slotCount.load(ordering: .acquiring)
        let maximum = store.maxLinks(level: level)
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: maximum) { batch in
            while let closest = candidates.pop() {
                if results.count >= ef, let worst = results.top, closest.distance > worst.distance { break }
                // Gather the unvisited neighbours the view may step on, then measure them four at a time.
                let block = store.links(closest.id, level: level)
                let linkCount = min(Int(block[0].load(ordering: .acquiring)), maximum)
                var gathered = 0
                for index in 0..<linkCount {
                    let neighbor = block[1 + index].load(ordering: .relaxed)
                    if Int(neighbor) >= knownSlots {
                        knownSlots = store.slotCount.load(ordering: .acquiring)
                        if Int(neighbor) >= knownSlots { continue }
                    }
                    guard visited.insert(neighbor), store.state(neighbor).isRoutable(writer: writer) else { continue }
                    batch[gathered] = neighbor
                    gathered += 1
                    measure.prefetch(neighbor)
                }
                // The closest candidate left is likely the next to expand: its links start loading
                // while these distances are measured (and again below if a closer one turns up).
                if let upcoming = candidates.top {
                    portal_prefetch(store.links(upcoming.id, level: level), Int32(4 * (maximum + 1)))
                }
                @inline(__always) func consider(_ neighbor: UInt32, _ d: Float) {
                    if results.count < ef || d < results.top!.distance {
                        candidates.push(d, neighbor)
                        if keeps(neighbor) {
                            results.push(d, neighbor)
                            if results.count > ef { results.pop() }
                        }
                    }
                }
                var next = 0
                while next + 4 <= gathered {
                    let four = measure.distance4(batch[next], batch[next + 1], batch[next + 2], batch[next + 3])
                    for lane in 0..<4 { consider(batch[next + lane], four[lane]) }
                    next += 4
                }
                while next < gathered {
                    consider(batch[next], measure.distance(batch[next]))
                    next += 1
                }
                // The next node to expand is the closest candidate: start loading its links.
                if let upcoming = candidates.top {
                    portal_prefetch(store.links(upcoming.id, level: level), Int32(4 * (maximum + 1)))
                }
            }
            return results.sortedByDistance()
        }
    }

    /// How many of an int8 walk's closest candidates are measured again in float32: `3k`.
    /// On 100,000 x 1536 (Benchmarks/README.md) re-ranking the best 2k gave the same recall as
    /// re-ranking all ef candidates; 3k leaves room for data that quantizes less well.
    static func rerankCount(k: Int) -> Int { 3 * k }

    /// The filter size below which an exact scan beats the graph: `22 × √slots`, and never
    /// below 1,024. Measured on 1536-d vectors at ef=64 (Benchmarks/README.md): the crossover
    /// was ~3,200 ids at 20,000 vectors and ~6,500 at 100,000, because a graph walk under a
    /// filter of selectivity s visits about ef/s nodes while the scan reads s × n vectors. The
    /// floor: in a small index a walk at ef=64 measures a good part of it anyway (ef × up to 32
    /// neighbours), while the scan is exact — it also finds a lone vector among a tight cluster
    /// of near-duplicates (hundreds of similar messages), which the graph can leave unreached
    /// when the cluster's links to it were pruned (`DefaultEmbedderTests`).
    public static func automaticExactScanThreshold(slots: Int) -> Int {
        max(1_024, Int(22 * Double(slots).squareRoot()))
    }

    /// The threshold in force now.
    public var exactScanThreshold: Int {
        parameters.exactScanThreshold ?? Self.automaticExactScanThreshold(slots: slotCount)
    }

    /// How a filtered search finds its candidates.
    public enum FilterStrategy: Sendable {
        /// An exact scan of the admitted ids when fewer than `exactScanThreshold`, else the graph.
        case automatic
        /// Always walk the graph, keeping only admitted ids.
        case graph
        /// Always scan the admitted ids exactly.
        case exact
    }

    /// How a search will find its candidates.
    public enum SearchPlan: Sendable, Equatable {
        /// Walk the graph (keeping only the ids a filter admits).
        case graph
        /// Measure every admitted id.
        case exactScan
    }

    /// What `search` does for `filter` and `strategy`: an exact scan when asked, or
    /// (automatically) when the filter admits fewer than `exactScanThreshold` ids; otherwise
    /// the graph.
    public func plan(for filter: VectorFilter?, strategy: FilterStrategy = .automatic) -> SearchPlan {
        guard let filter else { return .graph }
        switch strategy {
        case .exact: return .exactScan
        case .graph: return .graph
        case .automatic: return filter.count < exactScanThreshold ? .exactScan : .graph
        }
    }

    /// The `k` nearest vectors to `query` (Algorithm 5), closest first, among those `filter`
    /// admits, found as `plan(for:strategy:)` says. Safe to call from any number of threads
    /// while one writer works.
    public func search(_ query: [Float], k: Int, ef: Int? = nil, filter: VectorFilter? = nil, strategy: FilterStrategy = .automatic) throws(VectorError) -> [SearchResult] {
        precondition(k > 0, "k must be positive")
        let prepared = try prepared(query)
        if let filter, plan(for: filter, strategy: strategy) == .exactScan {
            return exactSearch(prepared, k: k, among: filter.ids)
        }
        let epoch = epochs.enter()
        defer { epochs.exit(epoch) }
        let entryBits = publishedEntry.load(ordering: .acquiring)
        guard entryBits != Self.noEntry else { return [] }
        let entry = UInt32(truncatingIfNeeded: entryBits), topLevel = Int(entryBits >> 32)
        let width = max(ef ?? parameters.efSearch, k)
        var visited = takeVisited()
        defer { giveBack(visited) }
        return prepared.withUnsafeBufferPointer { buffer in
            let exact = floatMeasure(buffer.baseAddress!)
            func walk(_ measure: some QueryMeasure) -> [DistanceHeap.Entry] {
                var nearest = [DistanceHeap.Entry(distance: measure.distance(entry), id: entry)]
                for layer in stride(from: topLevel, to: 0, by: -1) {
                    nearest = searchLayer(measure, entries: nearest, ef: 1, level: layer, writer: false, forResults: false, visited: &visited)
                }
                return searchLayer(measure, entries: nearest, ef: width, level: 0, writer: false, forResults: true, filter: filter, visited: &visited)
            }
            let found: [DistanceHeap.Entry]
            switch parameters.traversal {
            case .float32:
                found = walk(exact)
            case .int8:
                found = CodeMeasure.measuring(buffer, against: store, metric: metric) { approximate in
                    exact.reranked(Array(walk(approximate).prefix(Self.rerankCount(k: k))))
                }
            }
            return found.prefix(k).map { SearchResult(id: $0.id, distance: $0.distance) }
        }
    }

    /// Exact nearest neighbours among `ids` (or all ids), closest first, of a prepared query.
    /// - Complexity: O(ids × d)
    public func exactSearch(_ query: [Float], k: Int, among ids: [UInt32]? = nil) -> [SearchResult] {
        let epoch = epochs.enter()
        defer { epochs.exit(epoch) }
        var best = DistanceHeap(maxHeap: true, capacity: k + 1)
        let slots = UInt32(store.slotCount.load(ordering: .acquiring))
        query.withUnsafeBufferPointer { buffer in
            func consider(_ id: UInt32) {
                guard id < slots, store.state(id).isResult(writer: false) else { return }
                let d = distance(buffer.baseAddress!, id)
                if best.count < k || d < best.top!.distance {
                    best.push(d, id)
                    if best.count > k { best.pop() }
                }
            }
            if let ids { for id in ids { consider(id) } } else { for id in 0..<slots { consider(id) } }
        }
        return best.sortedByDistance().map { SearchResult(id: $0.id, distance: $0.distance) }
    }

    /// Bytes held by the graph's links (layer 0 and upper layers), for memory accounting.
    public var linkBytes: Int { writer.withLock { _ in store.linkBytes() } }

    /// Bytes held by int8 codes and their factors (0 with float32 traversal).
    public var codeBytes: Int { store.codeStride == 0 ? 0 : slotCount * (store.codeStride + MemoryLayout<SIMD2<Float>>.stride) }
}

/// `log` without Foundation (Vector imports only the standard library and Dispatch).
enum Foundationless {
    /// Natural logarithm for positive finite `x`, via frexp-style range reduction and the
    /// atanh series; accurate to ~1e-15 relative, plenty for drawing levels.
    static func log(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite)
        let exponent = Double(x.exponent)
        let mantissa = x.significand  // in [1, 2)
        let y = (mantissa - 1) / (mantissa + 1)
        let y2 = y * y
        var term = y, sum = 0.0, n = 1.0
        while true {
            let next = sum + term / n
            if next == sum { break }
            sum = next
            term *= y2
            n += 2
        }
        return 2 * sum + exponent * 0.693_147_180_559_945_3
    }
}
