import Dispatch
import Synchronization

/// The writer's view of the graph: its entry point (which may be a staged node), its random
/// source, the undo log of staged changes, and slots waiting to be reused.
struct WriterState {
    /// One staged change and what undoing it restores.
    enum Undo {
        case links(id: UInt32, level: Int, previous: [UInt32])
        case state(id: UInt32, previous: NodeState)
        case created(id: UInt32, appended: Bool)
        case header(entryPoint: UInt32?, maxLevel: Int, random: SplitMix64, liveCount: Int, deletedCount: Int)
    }

    var random: SplitMix64
    var entryPoint: UInt32?
    var maxLevel = 0
    var liveCount = 0
    var deletedCount = 0
    var staging = false
    var undo: [Undo] = []
    /// Reclaimed slots, reused lowest id first.
    var freeSlots: [UInt32] = []
    /// Slots cut out of the graph, with the epoch at which that was published.
    var limbo: [(id: UInt32, epoch: UInt64)] = []
    var visited = VisitedSet()
    /// The codes a float32-traversal index walks while it is bulk loaded.
    var buildCodes: BuildCodes?
}

/// A position in the writer's undo log; `rollback(to:)` returns the graph to it.
public struct StagingMark: Sendable, Equatable {
    let position: Int
}

/// What the graph persists about itself besides its nodes.
public struct HNSWHeader: Sendable, Codable, Equatable {
    public var entryPoint: UInt32?
    public var maxLevel: Int
    public var slotCount: Int
    public var randomState: UInt64
}

/// The nodes a staged change touched, for the storage layer to write in the same transaction.
public struct StagedChanges: Sendable, Equatable {
    /// Nodes whose vector is new (write it and the node record).
    public var created: [UInt32] = []
    /// Nodes whose links or state changed (rewrite the node record).
    public var rewritten: [UInt32] = []
    /// Nodes cut out of the graph (delete their vector and record).
    public var erased: [UInt32] = []
    public var header: HNSWHeader
}

extension HNSWIndex {
    // MARK: Public writes

    /// Adds a vector and returns its internal id (a reclaimed slot when there is one).
    /// - Complexity: O(log n) distance evaluations times efConstruction, expected.
    @discardableResult
    public func insert(_ vector: [Float]) throws(VectorError) -> UInt32 {
        let stored = try prepared(vector)
        return writer.withLock { state in
            let id = insert(stored, &state)
            publishIfNotStaging(&state)
            return id
        }
    }

    /// Adds many vectors; with `threads > 1`, searches for the neighbours of a batch of new
    /// nodes run in parallel and the links are then made in order, so the graph depends on
    /// the seed, the batch boundaries and whether a bulk load is under way, not on thread
    /// timing. Returns the ids in order.
    @discardableResult
    public func insert(contentsOf vectors: [[Float]], threads: Int = 1) throws(VectorError) -> [UInt32] {
        var stored: [[Float]] = []
        stored.reserveCapacity(vectors.count)
        for vector in vectors { stored.append(try prepared(vector)) }
        return writer.withLock { state in
            var ids: [UInt32] = []
            ids.reserveCapacity(stored.count)
            var next = 0
            while next < stored.count {
                let batch = threads > 1 ? min(64, max(1, state.liveCount / 16), stored.count - next) : 1
                if batch == 1 || state.entryPoint == nil {
                    ids.append(insert(stored[next], &state))
                    next += 1
                } else {
                    ids.append(contentsOf: insertBatch(stored[next ..< next + batch], threads: threads, &state))
                    next += batch
                }
            }
            publishIfNotStaging(&state)
            return ids
        }
    }

    /// Runs `body`, during which every insert looks for its neighbours by walking int8 codes
    /// of the nodes and re-ranking the candidates found by their float32 distances, as an
    /// int8-traversal index always does; the links are chosen on float32 distances either way.
    /// On 100,000 x 1536 that built the graph 1.12x faster (median of 4 alternating builds)
    /// with the same recall (Benchmarks/README.md).
    ///
    /// A float32-traversal index makes the codes for the occasion, encoding its nodes first,
    /// and frees them when `body` returns: the dimension rounded up to 16, plus 8, bytes per
    /// slot meanwhile, allocated 4,096 slots at a time. A call made while another one's body
    /// runs (nested, or on another thread) uses that call's codes, which last until its body
    /// returns. Searches are unaffected: they walk what `parameters.traversal` says.
    /// - Complexity: O(n × d) to encode the nodes, under the writer lock.
    public func bulkLoad<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let attached = writer.withLock { state -> Bool in
            guard store.codeStride == 0, state.buildCodes == nil else { return false }
            let codes = BuildCodes(dimension: dimension)
            codes.encodeStoredNodes(of: store)
            state.buildCodes = codes
            return true
        }
        defer { if attached { writer.withLock { $0.buildCodes = nil } } }
        return try body()
    }

    /// Bytes held by the codes of a bulk load in progress (0 outside one, and always for an
    /// int8-traversal index, whose codes are `codeBytes`).
    public var buildCodeBytes: Int { writer.withLock { $0.buildCodes?.bytes ?? 0 } }

    /// Marks a vector deleted: it is never returned again but keeps routing searches until
    /// `repairDeleted()` cuts it out. Removing a deleted vector does nothing.
    public func remove(_ id: UInt32) throws(VectorError) {
        try writer.withLock { (state) throws(VectorError) in
            guard Int(id) < store.slotCount.load(ordering: .relaxed) else { throw .unknownID(id) }
            switch store.state(id) {
            case .pending, .live:
                recordHeader(&state)
                setState(id, .removing, &state)
                state.liveCount -= 1
                state.deletedCount += 1
            case .removing, .deleted:
                return
            case .free, .unlinking, .unlinked:
                throw .unknownID(id)
            }
            publishIfNotStaging(&state)
        }
    }

    /// Replaces a vector: the old id is deleted and the new vector gets an id of its own, which
    /// is returned (searches in flight never see a node change under them).
    public func replace(_ id: UInt32, with vector: [Float]) throws(VectorError) -> UInt32 {
        let stored = try prepared(vector)
        return try writer.withLock { (state) throws(VectorError) in
            guard Int(id) < store.slotCount.load(ordering: .relaxed), store.state(id).isResult(writer: true) else { throw .unknownID(id) }
            recordHeader(&state)
            setState(id, .removing, &state)
            state.liveCount -= 1
            state.deletedCount += 1
            let newID = insert(stored, &state)
            publishIfNotStaging(&state)
            return newID
        }
    }

    /// Cuts every published tombstone out of the graph: each node that linked to one is
    /// relinked, by the selection heuristic, among its other neighbours and the tombstone's
    /// neighbours (as in FreshDiskANN's consolidation). The tombstones' slots are reused once
    /// no search can hold them. Then every node no longer reachable on layer 0 from the entry
    /// point (pruning during inserts can orphan one, as in any HNSW) gets an incoming link
    /// again. Returns how many tombstones were cut out.
    /// - Complexity: O(n × M) to find the links, plus heuristic selections for affected nodes.
    @discardableResult
    public func repairDeleted() -> Int {
        writer.withLock { state in
            let repaired = repair(&state)
            publishIfNotStaging(&state)
            return repaired
        }
    }

    // MARK: Staging

    /// Starts (or continues) staging: writes until `publishStaged()` stay invisible to searches.
    public func beginStaging() -> StagingMark {
        writer.withLock { state in
            state.staging = true
            return StagingMark(position: state.undo.count)
        }
    }

    /// What changed since `mark`, for the storage layer to persist.
    public func changes(since mark: StagingMark) -> StagedChanges {
        writer.withLock { state in
            var created = Set<UInt32>(), touched = Set<UInt32>()
            for entry in state.undo[mark.position...] {
                switch entry {
                case let .created(id, _): created.insert(id)
                case let .links(id, _, _), let .state(id, _): touched.insert(id)
                case .header: break
                }
            }
            var changes = StagedChanges(header: header(state))
            for id in touched.union(created).sorted() {
                switch store.state(id) {
                case .unlinking, .unlinked, .free: changes.erased.append(id)
                default:
                    if created.contains(id) { changes.created.append(id) } else { changes.rewritten.append(id) }
                }
            }
            return changes
        }
    }

    /// Undoes every staged change after `mark`, newest first.
    public func rollback(to mark: StagingMark) {
        writer.withLock { state in
            while state.undo.count > mark.position {
                switch state.undo.removeLast() {
                case let .links(id, level, previous):
                    store.setNeighbors(id, level: level, previous)
                case let .state(id, previous):
                    store.setState(id, previous)
                case let .created(id, appended):
                    store.setState(id, .free)
                    if appended { store.removeLastSlot() } else { state.freeSlots.append(id) }
                case let .header(entryPoint, maxLevel, random, liveCount, deletedCount):
                    state.entryPoint = entryPoint
                    state.maxLevel = maxLevel
                    state.random = random
                    state.liveCount = liveCount
                    state.deletedCount = deletedCount
                }
            }
            if mark.position == 0 { state.staging = false }
        }
    }

    /// Makes every staged change visible to searches and ends staging.
    public func publishStaged() {
        writer.withLock { state in publish(&state) }
    }

    // MARK: Internals (writer lock held)

    func header(_ state: WriterState) -> HNSWHeader {
        HNSWHeader(entryPoint: state.entryPoint, maxLevel: state.maxLevel, slotCount: store.slotCount.load(ordering: .relaxed), randomState: state.random.state)
    }

    private func publishIfNotStaging(_ state: inout WriterState) {
        if !state.staging { publish(&state) }
    }

    private func publish(_ state: inout WriterState) {
        let epoch = epochs.current
        for entry in state.undo {
            let id: UInt32
            switch entry {
            case let .created(created, _): id = created
            case let .state(changed, _): id = changed
            case .links, .header: continue
            }
            switch store.state(id) {
            case .pending: store.setState(id, .live)
            case .removing: store.setState(id, .deleted)
            case .unlinking:
                store.setState(id, .unlinked)
                state.limbo.append((id, epoch))
            default: break
            }
        }
        state.undo.removeAll(keepingCapacity: true)
        state.staging = false
        if let entry = state.entryPoint {
            publishedEntry.store(UInt64(state.maxLevel) << 32 | UInt64(entry), ordering: .releasing)
        } else {
            publishedEntry.store(Self.noEntry, ordering: .releasing)
        }
        reclaim(&state)
    }

    /// Moves limbo slots whose grace period has passed to the free list.
    private func reclaim(_ state: inout WriterState) {
        guard !state.limbo.isEmpty else { return }
        let now = epochs.tryAdvance()
        let ready = state.limbo.filter { $0.epoch &+ 2 <= now }
        guard !ready.isEmpty else { return }
        state.limbo.removeAll { $0.epoch &+ 2 <= now }
        for slot in ready { store.setState(slot.id, .free) }
        state.freeSlots.append(contentsOf: ready.map(\.id))
        state.freeSlots.sort(by: >)
    }

    func recordHeader(_ state: inout WriterState) {
        state.undo.append(.header(entryPoint: state.entryPoint, maxLevel: state.maxLevel, random: state.random, liveCount: state.liveCount, deletedCount: state.deletedCount))
    }

    func setState(_ id: UInt32, _ new: NodeState, _ state: inout WriterState) {
        state.undo.append(.state(id: id, previous: store.state(id)))
        store.setState(id, new)
    }

    func setLinks(_ id: UInt32, level: Int, _ ids: [UInt32], _ state: inout WriterState) {
        state.undo.append(.links(id: id, level: level, previous: store.neighbors(id, level: level)))
        store.setNeighbors(id, level: level, ids)
    }

    private func randomLevel(_ state: inout WriterState) -> Int {
        let unit = Double(state.random.next() >> 11) / Double(1 << 53)
        let multiplier = 1 / Foundationless.log(Double(parameters.m))
        return min(Int(-Foundationless.log(max(unit, .leastNormalMagnitude)) * multiplier), 16)
    }

    /// Takes a slot, writes the vector and level, and logs the creation; the node is not yet
    /// linked and not routable.
    private func allocate(_ vector: [Float], level: Int, _ state: inout WriterState) -> UInt32 {
        if state.freeSlots.isEmpty { reclaim(&state) }
        let appended = state.freeSlots.isEmpty
        let id = state.freeSlots.popLast() ?? store.appendSlot()
        vector.withUnsafeBufferPointer { vector in
            store.occupy(id, vector: vector, level: level)
            state.buildCodes?.encode(id, vector: vector)
        }
        state.undo.append(.created(id: id, appended: appended))
        return id
    }

    /// Algorithm 1 for one prepared vector.
    private func insert(_ vector: [Float], _ state: inout WriterState) -> UInt32 {
        recordHeader(&state)
        let level = randomLevel(&state)
        let id = allocate(vector, level: level, &state)
        if let entry = state.entryPoint {
            let candidates = findCandidates(for: id, level: level, entry: entry, maxLevel: state.maxLevel, buildCodes: state.buildCodes, visited: &state.visited)
            for (layer, found) in candidates.enumerated() where !found.isEmpty {
                connect(id, level: layer, candidates: found, &state)
            }
        }
        store.setState(id, .pending)
        state.liveCount += 1
        if state.entryPoint == nil || level > state.maxLevel {
            state.entryPoint = id
            state.maxLevel = level
        }
        return id
    }

    /// The efConstruction closest nodes to `id` on each of its layers (index = layer), with
    /// their float32 distances, from a greedy descent starting at `entry`. The descent walks
    /// int8 codes when there are some (the index's own, or `buildCodes`), then re-ranks. Reads
    /// the graph only, so batches run it in parallel.
    func findCandidates(for id: UInt32, level: Int, entry: UInt32, maxLevel: Int, buildCodes: BuildCodes?, visited: inout VisitedSet) -> [[DistanceHeap.Entry]] {
        let vector = UnsafeBufferPointer(start: store.vector(id), count: dimension)
        let exact = floatMeasure(vector.baseAddress!)
        func onCodes(_ table: some CodeTable) -> [[DistanceHeap.Entry]] {
            CodeMeasure.measuring(vector, against: table, metric: metric) { descend($0, reranking: exact, level: level, entry: entry, maxLevel: maxLevel, visited: &visited) }
        }
        if store.codeStride > 0 { return onCodes(store) }
        if let buildCodes { return onCodes(buildCodes) }
        return descend(exact, reranking: nil, level: level, entry: entry, maxLevel: maxLevel, visited: &visited)
    }

    /// `findCandidates` walking with `measure`; the candidates kept are measured again with
    /// `reranking` when `measure` estimates.
    private func descend(
        _ measure: some QueryMeasure, reranking: FloatMeasure?, level: Int, entry: UInt32, maxLevel: Int, visited: inout VisitedSet
    ) -> [[DistanceHeap.Entry]] {
        var result = [[DistanceHeap.Entry]](repeating: [], count: level + 1)
        var nearest = [DistanceHeap.Entry(distance: measure.distance(entry), id: entry)]
        if maxLevel > level {
            for layer in stride(from: maxLevel, to: level, by: -1) {
                nearest = searchLayer(measure, entries: nearest, ef: 1, level: layer, writer: true, forResults: false, visited: &visited)
            }
        }
        for layer in stride(from: min(level, maxLevel), through: 0, by: -1) {
            let found = searchLayer(measure, entries: nearest, ef: parameters.efConstruction, level: layer, writer: true, forResults: true, visited: &visited)
            guard !found.isEmpty else { continue }
            result[layer] = reranking?.reranked(found) ?? found
            nearest = found
        }
        return result
    }

    /// Links `id` on `level` to the heuristic's choice among `candidates` (sorted by distance)
    /// and each chosen neighbour back to `id`.
    private func connect(_ id: UInt32, level: Int, candidates: [DistanceHeap.Entry], _ state: inout WriterState) {
        let chosen = selectNeighbors(candidates, maximum: parameters.m)
        setLinks(id, level: level, chosen.map(\.id), &state)
        for neighbor in chosen { link(neighbor.id, to: id, distance: neighbor.distance, level: level, &state) }
    }

    /// Adds `newcomer` to `node`'s links on `level`, pruning with the heuristic when full.
    private func link(_ node: UInt32, to newcomer: UInt32, distance newDistance: Float, level: Int, _ state: inout WriterState) {
        let maximum = store.maxLinks(level: level)
        var current = store.neighbors(node, level: level)
        if current.contains(newcomer) { return }
        if current.count < maximum {
            current.append(newcomer)
            setLinks(node, level: level, current, &state)
            return
        }
        var candidates = current.map { DistanceHeap.Entry(distance: distance(node, $0), id: $0) }
        candidates.append(DistanceHeap.Entry(distance: newDistance, id: newcomer))
        candidates.sort { $0.distance < $1.distance }
        setLinks(node, level: level, selectNeighbors(candidates, maximum: maximum).map(\.id), &state)
    }

    /// Algorithm 4 (the heuristic): walking candidates from closest, keep one only if it is
    /// closer to the base than to every neighbour kept so far, so links spread in directions.
    /// `candidates` must be sorted by distance to the base.
    func selectNeighbors(_ candidates: [DistanceHeap.Entry], maximum: Int) -> [DistanceHeap.Entry] {
        guard candidates.count > maximum else { return candidates }
        var kept: [DistanceHeap.Entry] = []
        kept.reserveCapacity(maximum)
        for candidate in candidates {
            if kept.count == maximum { break }
            if kept.allSatisfy({ distance(candidate.id, $0.id) > candidate.distance }) { kept.append(candidate) }
        }
        return kept
    }

    /// Inserts a batch in three parallel phases over `threads` threads, each followed by a
    /// short serial step that applies its results (so the undo log stays in order):
    /// 1. each new node searches the graph as it was before the batch for its candidates;
    /// 2. each new node picks its neighbours among those candidates and the batch's earlier
    ///    nodes (the selection heuristic);
    /// 3. the reverse links are grouped by the node that receives them, and each receiving
    ///    node's list is extended (and pruned by the heuristic when full) once.
    /// Levels and slots are drawn in order, so the graph depends on the seed and the batch
    /// boundaries, not on thread timing.
    private func insertBatch(_ vectors: ArraySlice<[Float]>, threads: Int, _ state: inout WriterState) -> [UInt32] {
        recordHeader(&state)
        var members: [(id: UInt32, level: Int)] = []
        for vector in vectors {
            let level = randomLevel(&state)
            members.append((allocate(vector, level: level, &state), level))
        }
        let entry = state.entryPoint!, maxLevel = state.maxLevel, buildCodes = state.buildCodes
        let batch = members
        let found = parallelMap(batch.count, threads: threads) { index, visited in
            self.findCandidates(for: batch[index].id, level: batch[index].level, entry: entry, maxLevel: maxLevel, buildCodes: buildCodes, visited: &visited)
        }
        let chosen = parallelMap(batch.count, threads: threads) { index, _ in
            let member = batch[index]
            return (0...member.level).map { layer in
                var candidates = layer < found[index].count ? found[index][layer] : []
                for earlier in batch[..<index] where earlier.level >= layer {
                    candidates.append(DistanceHeap.Entry(distance: self.distance(member.id, earlier.id), id: earlier.id))
                }
                candidates.sort { $0.distance < $1.distance }
                return self.selectNeighbors(candidates, maximum: self.parameters.m)
            }
        }
        struct Target: Hashable, Comparable {
            let id: UInt32, layer: Int
            static func < (a: Target, b: Target) -> Bool { (a.id, a.layer) < (b.id, b.layer) }
        }
        var incoming: [Target: [DistanceHeap.Entry]] = [:]
        for (index, member) in batch.enumerated() {
            for (layer, neighbors) in chosen[index].enumerated() where !neighbors.isEmpty {
                setLinks(member.id, level: layer, neighbors.map(\.id), &state)
                for neighbor in neighbors {
                    incoming[Target(id: neighbor.id, layer: layer), default: []].append(DistanceHeap.Entry(distance: neighbor.distance, id: member.id))
                }
            }
        }
        let targets = incoming.keys.sorted()
        let arrivals = targets.map { incoming[$0]! }
        let extended = parallelMap(targets.count, threads: threads) { index, _ -> [UInt32]? in
            let target = targets[index]
            let current = self.store.neighbors(target.id, level: target.layer)
            let newcomers = arrivals[index].filter { !current.contains($0.id) }
            guard !newcomers.isEmpty else { return nil }
            let maximum = self.store.maxLinks(level: target.layer)
            if current.count + newcomers.count <= maximum { return current + newcomers.map(\.id) }
            var candidates = current.map { DistanceHeap.Entry(distance: self.distance(target.id, $0), id: $0) } + newcomers
            candidates.sort { $0.distance < $1.distance }
            return self.selectNeighbors(candidates, maximum: maximum).map(\.id)
        }
        for (target, links) in zip(targets, extended) {
            if let links { setLinks(target.id, level: target.layer, links, &state) }
        }
        for member in batch {
            store.setState(member.id, .pending)
            state.liveCount += 1
            if member.level > state.maxLevel {
                state.entryPoint = member.id
                state.maxLevel = member.level
            }
        }
        return batch.map(\.id)
    }

    /// `body(index, visited)` for every index below `count`, on `threads` threads that take the
    /// next index as they finish one (bodies vary in cost); the results in index order. Bodies
    /// only read the graph.
    private func parallelMap<T>(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int, inout VisitedSet) -> T) -> [T] {
        var results = [T?](repeating: nil, count: count)
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { buffer in
            // Each index is taken by exactly one worker, which alone writes its output.
            let output = DisjointOutput(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: min(threads, max(count, 1))) { _ in
                var visited = takeVisited()
                while case let index = next.wrappingAdd(1, ordering: .relaxed).oldValue, index < count {
                    output.base[index] = body(index, &visited)
                }
                giveBack(visited)
            }
        }
        return results.map { $0! }
    }

    // MARK: Repair

    private func repair(_ state: inout WriterState) -> Int {
        let slots = UInt32(store.slotCount.load(ordering: .relaxed))
        var doomed = VectorFilter(capacity: Int(slots))
        for id in 0..<slots where store.state(id) == .deleted { doomed.insert(id) }
        recordHeader(&state)
        let keeps: (UInt32) -> Bool = { id in
            let s = self.store.state(id)
            return (s == .pending || s == .live || s == .removing) && !doomed.contains(id)
        }
        if doomed.count > 0 {
            for id in 0..<slots where keeps(id) {
                for level in 0...store.level(id) {
                    let links = store.neighbors(id, level: level)
                    guard links.contains(where: { doomed.contains($0) }) else { continue }
                    var pool = Set<UInt32>()
                    for neighbor in links {
                        if doomed.contains(neighbor) {
                            for second in store.neighbors(neighbor, level: level) where second != id && keeps(second) { pool.insert(second) }
                        } else if keeps(neighbor) {
                            pool.insert(neighbor)
                        }
                    }
                    let candidates = pool.map { DistanceHeap.Entry(distance: distance(id, $0), id: $0) }.sorted { $0.distance < $1.distance }
                    setLinks(id, level: level, selectNeighbors(candidates, maximum: store.maxLinks(level: level)).map(\.id), &state)
                }
            }
            for id in doomed.ids { setState(id, .unlinking, &state) }
            state.deletedCount -= doomed.count
            if let entry = state.entryPoint, doomed.contains(entry) {
                var best: (id: UInt32, level: Int)?
                for id in 0..<slots where keeps(id) {
                    let level = store.level(id)
                    if best == nil || level > best!.level { best = (id, level) }
                }
                state.entryPoint = best?.id
                state.maxLevel = best?.level ?? 0
            }
        }
        reconnectUnreachable(keeps: keeps, &state)
        return doomed.count
    }

    /// Nodes (among those `keeps` admits) not reachable on layer 0 from the entry point.
    private func unreachable(keeps: (UInt32) -> Bool, _ state: WriterState) -> [UInt32] {
        guard let entry = state.entryPoint else { return [] }
        let slots = UInt32(store.slotCount.load(ordering: .relaxed))
        var seen = VectorFilter(capacity: Int(slots))
        var stack = [entry]
        seen.insert(entry)
        while let node = stack.popLast() {
            for neighbor in store.neighbors(node, level: 0) where keeps(neighbor) && !seen.contains(neighbor) {
                seen.insert(neighbor)
                stack.append(neighbor)
            }
        }
        return (0..<slots).filter { keeps($0) && !seen.contains($0) }
    }

    /// Gives each unreachable node an incoming layer-0 link from its nearest reachable node
    /// with room, or else in place of that node's farthest link; repeats while the
    /// replacement orphans another node (bounded).
    private func reconnectUnreachable(keeps: (UInt32) -> Bool, _ state: inout WriterState) {
        for _ in 0..<8 {
            let orphans = unreachable(keeps: keeps, state)
            guard !orphans.isEmpty, let entry = state.entryPoint else { return }
            let orphanSet = Set(orphans)
            for id in orphans {
                let found = findCandidates(for: id, level: 0, entry: entry, maxLevel: state.maxLevel, buildCodes: state.buildCodes, visited: &state.visited)[0]
                    .filter { $0.id != id && keeps($0.id) && !orphanSet.contains($0.id) }
                guard let closest = found.first else { continue }
                let host = found.first { store.neighbors($0.id, level: 0).count < store.maxLinks0 } ?? closest
                var links = store.neighbors(host.id, level: 0)
                if links.count == store.maxLinks0 {
                    let farthest = links.indices.max { distance(host.id, links[$0]) < distance(host.id, links[$1]) }!
                    links.remove(at: farthest)
                }
                links.append(id)
                setLinks(host.id, level: 0, links, &state)
            }
        }
    }
}

/// An output buffer that parallel workers fill at disjoint indexes.
private struct DisjointOutput<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
}
