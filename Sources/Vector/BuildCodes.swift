import Synchronization

/// The int8 codes a float32-traversal index keeps only while it is bulk loaded
/// (`HNSWIndex.bulkLoad`), for the writer to walk when it looks for an insert's candidates.
/// Each slot's codes are written with its vector, by the writer in a serial step, before any
/// walk can reach the slot; the writer's parallel phases only read them. Searches never do.
/// Chunks of `NodeStore.chunkSize` slots, as in the node store, freed with the table.
final class BuildCodes: CodeTable, @unchecked Sendable {
    let codeStride: Int
    private let factorsOffset: Int
    private let chunkBytes: Int
    private let directory: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var chunkCount = 0

    init(dimension: Int) {
        codeStride = Int8Codes.stride(dimension: dimension)
        factorsOffset = NodeStore.chunkSize * codeStride
        chunkBytes = factorsOffset + NodeStore.chunkSize * MemoryLayout<SIMD2<Float>>.stride
        directory = .allocate(capacity: NodeStore.maximumChunks)
        directory.initialize(repeating: nil, count: NodeStore.maximumChunks)
    }

    deinit {
        for index in 0..<chunkCount { directory[index]!.deallocate() }
        directory.deallocate()
    }

    /// Bytes held by the codes and their factors.
    var bytes: Int { chunkCount * chunkBytes }

    /// Encodes every slot of `store` that holds a vector.
    func encodeStoredNodes(of store: NodeStore) {
        for id in 0..<UInt32(store.slotCount.load(ordering: .relaxed)) where store.state(id) != .free {
            encode(id, vector: UnsafeBufferPointer(start: store.vector(id), count: store.dimension))
        }
    }

    /// Writes the codes and factors of slot `id` from its vector, adding chunks up to it.
    func encode(_ id: UInt32, vector: UnsafeBufferPointer<Float>) {
        while Int(id) >> NodeStore.chunkShift >= chunkCount {
            directory[chunkCount] = .allocate(byteCount: chunkBytes, alignment: 64)
            chunkCount += 1
        }
        let factors = Int8Codes.encodeNode(vector, into: codes(id), stride: codeStride)
        (chunk(id) + factorsOffset + local(id) * MemoryLayout<SIMD2<Float>>.stride).storeBytes(of: factors, as: SIMD2<Float>.self)
    }

    @inline(__always)
    private func chunk(_ id: UInt32) -> UnsafeMutableRawPointer { directory[Int(id) >> NodeStore.chunkShift]! }

    @inline(__always)
    private func local(_ id: UInt32) -> Int { Int(id) & (NodeStore.chunkSize - 1) }

    @inline(__always)
    func codes(_ id: UInt32) -> UnsafeMutablePointer<Int8> {
        (chunk(id) + local(id) * codeStride).assumingMemoryBound(to: Int8.self)
    }

    @inline(__always)
    func codeFactors(_ id: UInt32) -> SIMD2<Float> {
        (chunk(id) + factorsOffset + local(id) * MemoryLayout<SIMD2<Float>>.stride).load(as: SIMD2<Float>.self)
    }
}
