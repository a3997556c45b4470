/// Parameters of an HNSW graph (Malkov & Yashunin, 2018).
public struct HNSWParameters: Sendable, Equatable, Codable {
    /// Neighbours per node on the upper layers; layer 0 keeps `2 * m`.
    public var m: Int
    /// Candidate-list size while inserting.
    public var efConstruction: Int
    /// Default candidate-list size while searching (raised to `k` when smaller).
    public var efSearch: Int
    /// Seeds the level draws, so the same inserts build the same graph.
    public var seed: UInt64
    /// A filtered search that admits fewer ids than this scans them exactly instead of
    /// walking the graph.
    public var exactScanThreshold: Int

    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42, exactScanThreshold: Int = 2_000) {
        precondition(m >= 2, "M must be at least 2")
        precondition(efConstruction >= 1 && efSearch >= 1, "ef must be at least 1")
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
        self.exactScanThreshold = exactScanThreshold
    }
}

/// One search hit: the internal id and its distance to the query (smaller is closer).
public struct SearchResult: Sendable, Equatable {
    public let id: UInt32
    public let distance: Float
}

/// A hierarchical navigable small-world graph over float32 vectors of one dimension.
///
/// Storage is flat: vector `i` occupies `vectors[i * dimension ..< (i + 1) * dimension]`, and
/// its layer-0 links `layer0[i * (2M + 1)]` (a count, then up to 2M ids), as in hnswlib. Upper
/// layers, which hold ~1/M of the nodes, keep their links per node. Deleted nodes are
/// tombstones: they still route searches but are never returned.
///
/// Not thread-safe yet: one caller at a time. (Concurrent readers with one writer are
/// planned; see ROADMAP.md.)
public struct HNSWIndex {
    public let dimension: Int
    public let metric: Metric
    public let parameters: HNSWParameters

    private(set) var vectors: [Float] = []
    private(set) var levels: [UInt8] = []
    private(set) var layer0: [UInt32] = []
    /// `upper[i][l - 1]` holds node i's links on layer l ≥ 1.
    private(set) var upper: [[[UInt32]]] = []
    private(set) var deleted: [Bool] = []
    private(set) var entryPoint: UInt32?
    private(set) var maxLevel = 0
    public private(set) var deletedCount = 0
    private var random: SplitMix64
    private var visited = VisitedSet()

    var maxLinks0: Int { 2 * parameters.m }
    var stride0: Int { maxLinks0 + 1 }

    public init(dimension: Int, metric: Metric, parameters: HNSWParameters = HNSWParameters()) {
        precondition(dimension > 0, "dimension must be positive")
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        self.random = SplitMix64(seed: parameters.seed)
    }

    /// Vectors stored, deleted ones included.
    public var count: Int { levels.count }

    /// Reserves room for `capacity` vectors, so that growing does not over-allocate (arrays
    /// double) when the final size is known, as when loading a data set.
    public mutating func reserveCapacity(_ capacity: Int) {
        vectors.reserveCapacity(capacity * dimension)
        levels.reserveCapacity(capacity)
        layer0.reserveCapacity(capacity * stride0)
        upper.reserveCapacity(capacity)
        deleted.reserveCapacity(capacity)
    }

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
    private func stored(_ all: UnsafeBufferPointer<Float>, _ id: UInt32) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(rebasing: all[Int(id) * dimension ..< (Int(id) + 1) * dimension])
    }

    @inline(__always)
    private func distance(_ query: UnsafeBufferPointer<Float>, _ id: UInt32) -> Float {
        vectors.withUnsafeBufferPointer { all in metric.distance(query, stored(all, id)) }
    }

    @inline(__always)
    private func distance(_ a: UInt32, _ b: UInt32) -> Float {
        vectors.withUnsafeBufferPointer { all in metric.distance(stored(all, a), stored(all, b)) }
    }

    // MARK: Links

    func neighbors(of id: UInt32, level: Int) -> ArraySlice<UInt32> {
        if level == 0 {
            let base = Int(id) * stride0
            return layer0[(base + 1) ..< (base + 1 + Int(layer0[base]))]
        }
        return upper[Int(id)][level - 1][...]
    }

    private mutating func setNeighbors(of id: UInt32, level: Int, _ ids: [UInt32]) {
        if level == 0 {
            precondition(ids.count <= maxLinks0)
            let base = Int(id) * stride0
            layer0[base] = UInt32(ids.count)
            for (offset, neighbor) in ids.enumerated() { layer0[base + 1 + offset] = neighbor }
        } else {
            precondition(ids.count <= parameters.m)
            upper[Int(id)][level - 1] = ids
        }
    }

    // MARK: Insert (Algorithm 1)

    /// Adds a vector and returns its internal id (ids are dense, from 0).
    /// - Complexity: O(log n) distance evaluations times efConstruction, expected.
    @discardableResult
    public mutating func insert(_ vector: [Float]) throws(VectorError) -> UInt32 {
        let stored = try prepared(vector)
        let id = UInt32(count)
        let level = randomLevel()
        vectors.append(contentsOf: stored)
        levels.append(UInt8(level))
        layer0.append(contentsOf: repeatElement(0, count: stride0))
        upper.append(Array(repeating: [], count: level))
        deleted.append(false)

        guard let entry = entryPoint else {
            entryPoint = id
            maxLevel = level
            return id
        }
        stored.withUnsafeBufferPointer { query in
            var nearest = [DistanceHeap.Entry(distance: distance(query, entry), id: entry)]
            if maxLevel > level {
                for layer in stride(from: maxLevel, to: level, by: -1) {
                    nearest = searchLayer(query, entries: nearest, ef: 1, level: layer)
                }
            }
            for layer in stride(from: min(level, maxLevel), through: 0, by: -1) {
                let candidates = searchLayer(query, entries: nearest, ef: parameters.efConstruction, level: layer)
                let chosen = selectNeighbors(candidates, maximum: parameters.m)
                setNeighbors(of: id, level: layer, chosen.map(\.id))
                for neighbor in chosen { link(neighbor.id, to: id, distance: neighbor.distance, level: layer) }
                nearest = candidates
            }
        }
        if level > maxLevel {
            maxLevel = level
            entryPoint = id
        }
        return id
    }

    /// Adds `newcomer` to `node`'s links on `level`, pruning with the heuristic when full.
    private mutating func link(_ node: UInt32, to newcomer: UInt32, distance newDistance: Float, level: Int) {
        let maximum = level == 0 ? maxLinks0 : parameters.m
        var current = Array(neighbors(of: node, level: level))
        if current.count < maximum {
            current.append(newcomer)
            setNeighbors(of: node, level: level, current)
            return
        }
        var candidates = current.map { DistanceHeap.Entry(distance: distance(node, $0), id: $0) }
        candidates.append(DistanceHeap.Entry(distance: newDistance, id: newcomer))
        candidates.sort { $0.distance < $1.distance }
        setNeighbors(of: node, level: level, selectNeighbors(candidates, maximum: maximum).map(\.id))
    }

    /// Algorithm 4 (the heuristic): walking candidates from closest, keep one only if it is
    /// closer to the base than to every neighbour kept so far, so links spread in directions.
    /// `candidates` must be sorted by distance to the base.
    private func selectNeighbors(_ candidates: [DistanceHeap.Entry], maximum: Int) -> [DistanceHeap.Entry] {
        guard candidates.count > maximum else { return candidates }
        var kept: [DistanceHeap.Entry] = []
        kept.reserveCapacity(maximum)
        for candidate in candidates {
            if kept.count == maximum { break }
            if kept.allSatisfy({ distance(candidate.id, $0.id) > candidate.distance }) { kept.append(candidate) }
        }
        return kept
    }

    private mutating func randomLevel() -> Int {
        let unit = Double(random.next() >> 11) / Double(1 << 53)
        let multiplier = 1 / Foundationless.log(Double(parameters.m))
        return min(Int(-Foundationless.log(max(unit, .leastNormalMagnitude)) * multiplier), 16)
    }

    // MARK: Search (Algorithms 2 and 5)

    /// Algorithm 2: the `ef` closest nodes to `query` on `level`, found by best-first expansion
    /// from `entries`, sorted by distance. Every node routes the search; with `forResults`, only
    /// undeleted nodes the filter admits are kept as results (the final layer-0 search).
    private mutating func searchLayer(
        _ query: UnsafeBufferPointer<Float>, entries: [DistanceHeap.Entry], ef: Int, level: Int,
        forResults: Bool = false, filter: VectorFilter? = nil
    ) -> [DistanceHeap.Entry] {
        visited.begin(capacity: count)
        var candidates = DistanceHeap(maxHeap: false, capacity: ef * 2)
        var results = DistanceHeap(maxHeap: true, capacity: ef + 1)
        for entry in entries where visited.insert(entry.id) {
            candidates.push(entry.distance, entry.id)
            if !forResults || admits(entry.id, filter) { results.push(entry.distance, entry.id) }
        }
        while let closest = candidates.pop() {
            if results.count >= ef, let worst = results.top, closest.distance > worst.distance { break }
            for neighbor in neighbors(of: closest.id, level: level) where visited.insert(neighbor) {
                let d = distance(query, neighbor)
                if results.count < ef || d < results.top!.distance {
                    candidates.push(d, neighbor)
                    if !forResults || admits(neighbor, filter) {
                        results.push(d, neighbor)
                        if results.count > ef { results.pop() }
                    }
                }
            }
        }
        return results.sortedByDistance()
    }

    @inline(__always)
    private func admits(_ id: UInt32, _ filter: VectorFilter?) -> Bool {
        !deleted[Int(id)] && (filter?.contains(id) ?? true)
    }

    /// The `k` nearest vectors to `query` (Algorithm 5), closest first, among those `filter`
    /// admits. A filter admitting fewer than `exactScanThreshold` ids is answered by an exact
    /// scan of just those ids.
    public mutating func search(_ query: [Float], k: Int, ef: Int? = nil, filter: VectorFilter? = nil) throws(VectorError) -> [SearchResult] {
        precondition(k > 0, "k must be positive")
        let prepared = try prepared(query)
        if let filter, filter.count < parameters.exactScanThreshold {
            return exactSearch(prepared, k: k, among: filter.ids)
        }
        guard let entry = entryPoint else { return [] }
        let width = max(ef ?? parameters.efSearch, k)
        return prepared.withUnsafeBufferPointer { query in
            var nearest = [DistanceHeap.Entry(distance: distance(query, entry), id: entry)]
            for layer in stride(from: maxLevel, to: 0, by: -1) {
                nearest = searchLayer(query, entries: nearest, ef: 1, level: layer)
            }
            return searchLayer(query, entries: nearest, ef: width, level: 0, forResults: true, filter: filter)
                .prefix(k).map { SearchResult(id: $0.id, distance: $0.distance) }
        }
    }

    /// Exact nearest neighbours among `ids` (or all ids), closest first.
    /// - Complexity: O(ids × d)
    public func exactSearch(_ query: [Float], k: Int, among ids: [UInt32]? = nil) -> [SearchResult] {
        var best = DistanceHeap(maxHeap: true, capacity: k + 1)
        query.withUnsafeBufferPointer { query in
            func consider(_ id: UInt32) {
                guard !deleted[Int(id)] else { return }
                let d = distance(query, id)
                if best.count < k || d < best.top!.distance {
                    best.push(d, id)
                    if best.count > k { best.pop() }
                }
            }
            if let ids { for id in ids where Int(id) < count { consider(id) } } else { for id in 0..<UInt32(count) { consider(id) } }
        }
        return best.sortedByDistance().map { SearchResult(id: $0.id, distance: $0.distance) }
    }

    // MARK: Delete

    /// Marks a vector deleted: it is never returned again but keeps routing searches.
    public mutating func remove(_ id: UInt32) throws(VectorError) {
        guard Int(id) < count else { throw .unknownID(id) }
        guard !deleted[Int(id)] else { return }
        deleted[Int(id)] = true
        deletedCount += 1
    }
}

/// `log` without Foundation (Vector imports only the standard library).
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

extension HNSWIndex {
    /// Bytes held by the graph's links (layer 0 and upper layers), for memory accounting.
    public var linkBytes: Int {
        layer0.count * 4 + upper.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count * 4 } }
    }
}
