extension HNSWIndex {
    /// Every structural rule of the graph that should hold after any sequence of operations;
    /// returns the violations (empty when the graph is sound). Tests run it after building.
    /// - Complexity: O(n × M)
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        guard levels.count == count, deleted.count == count, upper.count == count,
              layer0.count == count * stride0, vectors.count == count * dimension
        else { return ["storage arrays disagree on the node count"] }
        guard let entry = entryPoint else {
            return count == 0 ? [] : ["no entry point in a non-empty graph"]
        }
        if Int(levels[Int(entry)]) != maxLevel { problems.append("entry point \(entry) is not on the top layer") }
        if levels.map(Int.init).max() != maxLevel { problems.append("maxLevel \(maxLevel) is not the highest node level") }
        for node in 0..<UInt32(count) {
            if upper[Int(node)].count != Int(levels[Int(node)]) { problems.append("node \(node) has links for the wrong number of layers") }
            for level in 0...Int(levels[Int(node)]) {
                let links = neighbors(of: node, level: level)
                let maximum = level == 0 ? maxLinks0 : parameters.m
                if links.count > maximum { problems.append("node \(node) has \(links.count) links on layer \(level), over \(maximum)") }
                if links.contains(node) { problems.append("node \(node) links to itself on layer \(level)") }
                if Set(links).count != links.count { problems.append("node \(node) has duplicate links on layer \(level)") }
                for neighbor in links where Int(neighbor) >= count || Int(levels[Int(neighbor)]) < level {
                    problems.append("node \(node) links to \(neighbor), which is not on layer \(level)")
                }
            }
        }
        // Every node must be reachable on layer 0 from the entry point, or searches cannot find it.
        var seen = [Bool](repeating: false, count: count)
        var stack = [entry]
        seen[Int(entry)] = true
        while let node = stack.popLast() {
            for neighbor in neighbors(of: node, level: 0) where !seen[Int(neighbor)] {
                seen[Int(neighbor)] = true
                stack.append(neighbor)
            }
        }
        let unreachable = seen.filter { !$0 }.count
        if unreachable > 0 { problems.append("\(unreachable) nodes are unreachable on layer 0") }
        return problems
    }
}
