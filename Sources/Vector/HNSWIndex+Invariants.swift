import Synchronization

extension HNSWIndex {
    /// Every structural rule of the graph that should hold after any sequence of operations;
    /// returns the violations (empty when the graph is sound). Tests and `portal check` run it.
    /// With `reachability`, also that every searchable node is reachable on layer 0 from the
    /// entry point, which holds after `repairDeleted()` but which pruning during inserts can
    /// break for a node in between (as in any HNSW).
    /// - Complexity: O(n × M)
    public func checkInvariants(reachability: Bool = true) -> [String] {
        writer.withLock { state in
            var problems: [String] = []
            let slots = UInt32(store.slotCount.load(ordering: .relaxed))
            func inGraph(_ id: UInt32) -> Bool {
                let s = store.state(id)
                return s == .pending || s == .live || s == .removing || s == .deleted
            }
            var live = 0, deleted = 0, highest = -1
            for id in 0..<slots {
                switch store.state(id) {
                case .pending, .live: live += 1
                case .removing, .deleted: deleted += 1
                default: continue
                }
                highest = max(highest, store.level(id))
            }
            if live != state.liveCount { problems.append("\(live) live nodes, but the count says \(state.liveCount)") }
            if deleted != state.deletedCount { problems.append("\(deleted) tombstones, but the count says \(state.deletedCount)") }
            for free in state.freeSlots where store.state(free) != .free { problems.append("slot \(free) is on the free list but not free") }
            guard let entry = state.entryPoint else {
                if live + deleted > 0 { problems.append("no entry point in a non-empty graph") }
                return problems
            }
            if !inGraph(entry) { problems.append("entry point \(entry) is not in the graph") }
            if store.level(entry) != state.maxLevel { problems.append("entry point \(entry) is not on the top layer") }
            if highest != state.maxLevel { problems.append("maxLevel \(state.maxLevel) is not the highest node level \(highest)") }
            for node in 0..<slots where inGraph(node) {
                for level in 0...store.level(node) {
                    let links = store.neighbors(node, level: level)
                    if links.contains(node) { problems.append("node \(node) links to itself on layer \(level)") }
                    if Set(links).count != links.count { problems.append("node \(node) has duplicate links on layer \(level)") }
                    for neighbor in links where neighbor >= slots || !inGraph(neighbor) || store.level(neighbor) < level {
                        problems.append("node \(node) links to \(neighbor), which is not a node on layer \(level)")
                    }
                }
            }
            guard reachability else { return problems }
            var seen = VectorFilter(capacity: Int(slots))
            var stack = [entry]
            seen.insert(entry)
            while let node = stack.popLast() {
                for neighbor in store.neighbors(node, level: 0) where neighbor < slots && inGraph(neighbor) && !seen.contains(neighbor) {
                    seen.insert(neighbor)
                    stack.append(neighbor)
                }
            }
            let unreachable = (0..<slots).filter { store.state($0).isResult(writer: true) && !seen.contains($0) }.count
            if unreachable > 0 { problems.append("\(unreachable) nodes are unreachable on layer 0") }
            return problems
        }
    }
}
