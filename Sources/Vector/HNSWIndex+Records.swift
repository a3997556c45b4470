import Synchronization

/// The graph as records, so a storage layer can persist it without knowing its layout: a
/// header, and per node its vector (written once) and a node record (state, level and links,
/// rewritten when they change). Loading these records rebuilds nothing: the links are used
/// as stored.
///
/// Node record layout (little-endian): `state: UInt8` (1 live, 2 deleted), `level: UInt8`,
/// then for each layer 0…level a `UInt32` count followed by that many `UInt32` ids.
extension HNSWIndex {
    /// The vector of node `id` as raw float32 bytes (little-endian on every supported CPU).
    public func vectorBytes(_ id: UInt32) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: store.vector(id), count: dimension * 4))
    }

    /// The node record of `id` as it will be once the current staged changes are published.
    public func nodeRecord(_ id: UInt32) -> [UInt8] {
        let state: UInt8 = switch store.state(id) {
        case .pending, .live: 1
        default: 2
        }
        let level = store.level(id)
        var bytes: [UInt8] = [state, UInt8(level)]
        for layer in 0...level {
            let links = store.neighbors(id, level: layer)
            append(UInt32(links.count), to: &bytes)
            for link in links { append(link, to: &bytes) }
        }
        return bytes
    }

    /// The node record of `id` if it is a node of the graph (live or a tombstone), else `nil`.
    public func storedRecord(_ id: UInt32) -> [UInt8]? {
        guard Int(id) < slotCount else { return nil }
        switch store.state(id) {
        case .pending, .live, .removing, .deleted: return nodeRecord(id)
        default: return nil
        }
    }

    /// The header as it will be once the current staged changes are published.
    public var header: HNSWHeader { writer.withLock { header($0) } }

    /// An index ready to receive its nodes from storage: `restoreNode` for each stored node,
    /// then `finishRestoring()`.
    public convenience init(dimension: Int, metric: Metric, parameters: HNSWParameters, restoring header: HNSWHeader) throws(VectorError) {
        self.init(dimension: dimension, metric: metric, parameters: parameters)
        guard header.slotCount >= 0, header.slotCount <= NodeStore.maximumChunks << NodeStore.chunkShift else {
            throw .corruptRecord("slot count \(header.slotCount)")
        }
        for _ in 0..<header.slotCount { _ = store.appendSlot() }
        writer.withLock { state in
            state.random = SplitMix64(seed: header.randomState)
            state.entryPoint = header.entryPoint
            state.maxLevel = header.maxLevel
        }
    }

    /// Loads one stored node. Fails on a record that does not fit the header or the parameters.
    public func restoreNode(_ id: UInt32, record: UnsafeRawBufferPointer, vector: UnsafeRawBufferPointer) throws(VectorError) {
        let slots = store.slotCount.load(ordering: .relaxed)
        guard Int(id) < slots else { throw .corruptRecord("node \(id) is beyond the slot count \(slots)") }
        guard vector.count == dimension * 4 else { throw .corruptRecord("node \(id) has a vector of \(vector.count) bytes, expected \(dimension * 4)") }
        guard record.count >= 2, record[0] == 1 || record[0] == 2 else { throw .corruptRecord("node \(id) has a bad state") }
        let level = Int(record[1])
        guard level <= 16 else { throw .corruptRecord("node \(id) has level \(level)") }
        var floats = [Float](repeating: 0, count: dimension)
        floats.withUnsafeMutableBytes { $0.copyMemory(from: vector) }
        floats.withUnsafeBufferPointer { store.occupy(id, vector: $0, level: level) }
        var offset = 2
        func next() throws(VectorError) -> UInt32 {
            guard offset + 4 <= record.count else { throw .corruptRecord("node \(id): record ends early") }
            defer { offset += 4 }
            return UInt32(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
        for layer in 0...level {
            let count = Int(try next())
            guard count <= store.maxLinks(level: layer) else { throw .corruptRecord("node \(id) has \(count) links on layer \(layer)") }
            var links: [UInt32] = []
            for _ in 0..<count {
                let link = try next()
                guard Int(link) < slots, link != id else { throw .corruptRecord("node \(id) links to \(link)") }
                links.append(link)
            }
            store.setNeighbors(id, level: layer, links)
        }
        guard offset == record.count else { throw .corruptRecord("node \(id): trailing bytes") }
        store.setState(id, record[0] == 1 ? .live : .deleted)
    }

    /// Completes a restore: slots with no stored node become reusable, counts are taken, and
    /// the entry point is published. Fails when the header's entry point was not restored.
    public func finishRestoring() throws(VectorError) {
        try writer.withLock { (state) throws(VectorError) in
            let slots = UInt32(store.slotCount.load(ordering: .relaxed))
            for id in 0..<slots {
                switch store.state(id) {
                case .live: state.liveCount += 1
                case .deleted: state.deletedCount += 1
                default: state.freeSlots.append(id)
                }
            }
            state.freeSlots.reverse()
            state.buildCodes?.encodeStoredNodes(of: store)  // nodes restored during a bulk load
            if let entry = state.entryPoint {
                guard entry < slots, store.state(entry) != .free, store.level(entry) == state.maxLevel else {
                    throw .corruptRecord("entry point \(entry) is not a stored node on level \(state.maxLevel)")
                }
                publishedEntry.store(UInt64(state.maxLevel) << 32 | UInt64(entry), ordering: .releasing)
            } else if state.liveCount + state.deletedCount > 0 {
                throw .corruptRecord("nodes are stored but no entry point")
            }
        }
    }

    private func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
