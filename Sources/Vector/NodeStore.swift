import CVectorSupport
import Synchronization

/// Where a slot is in its life. Readers (searches) and the writer see different subsets:
/// a change the writer has staged is invisible to readers until it is published.
enum NodeState: UInt8 {
    /// Never used, or reclaimed after every reader that could reach it has left.
    case free = 0
    /// Inserted by the writer and not yet published: readers skip it.
    case pending
    /// Published and searchable.
    case live
    /// Deleted by the writer, not yet published: readers still return it.
    case removing
    /// A published tombstone: it routes searches but is never returned.
    case deleted
    /// Being cut out of the graph by a repair; readers in flight may still pass through it.
    case unlinking
    /// Cut out and published; its slot waits in limbo for the readers that might hold it.
    case unlinked

    /// Whether a search may step onto this node (readers: published nodes only).
    @inline(__always)
    func isRoutable(writer: Bool) -> Bool {
        writer ? (self == .pending || self == .live || self == .removing || self == .deleted) : rawValue >= NodeState.live.rawValue
    }

    /// Whether a search may return this node.
    @inline(__always)
    func isResult(writer: Bool) -> Bool {
        writer ? (self == .pending || self == .live) : (self == .live || self == .removing)
    }
}

/// Fixed-address storage for the nodes of one graph: chunks of `chunkSize` slots, each chunk
/// one mapping that never moves, found through a directory whose entries are written once.
/// Growing therefore never invalidates memory a concurrent search is reading. Chunks start on
/// a 2 MiB boundary with the vectors first, on transparent huge pages (`portal_map_nodes`).
///
/// Per slot a chunk holds the vector (`dimension` floats, written only while the slot is not
/// visible to readers), with `Traversal.int8` its codes and their scale and the vector's
/// squared norm (written with the vector), the layer-0 links (a count and `2M` ids, each an atomic), the state
/// (atomic), the level, and a pointer to the upper-layer links (atomic).
///
/// Memory safety with one writer and concurrent readers rests on three rules the index keeps:
/// 1. Links and states are only ever accessed through atomics, so a reader may see a list
///    half-rewritten but never a torn id; every id it can read names an allocated slot.
/// 2. A slot's vector, level and upper-link block are written only while readers cannot
///    act on it: readers load the state with acquire ordering and touch the rest only when it
///    is published (`live` and after), which the writer stores with release ordering after
///    writing them.
/// 3. A slot returns to `free` (and is rewritten) only after a repair removed every link to
///    it and every reader that started before that repair was published has finished
///    (`ReaderEpochs`).
final class NodeStore: @unchecked Sendable {
    static let chunkShift = 12
    static let chunkSize = 1 << chunkShift
    static let maximumChunks = 1 << 14
    /// Written in unused link positions, so no stale id outlives a rewrite.
    static let noLink = UInt32.max

    let dimension: Int
    /// Int8 codes per slot (the dimension rounded up to 16), or 0 without codes.
    let codeStride: Int
    let maxLinks0: Int
    let maxLinksUpper: Int
    private let stride0: Int
    private let vectorBytes: Int
    private let codesOffset: Int
    private let codeFactorsOffset: Int
    private let layer0Offset: Int
    private let statesOffset: Int
    private let levelsOffset: Int
    private let upperOffset: Int
    private let chunkBytes: Int
    private let directory: UnsafeMutablePointer<Atomic<UInt>>
    /// An empty link block (count 0), never written.
    private let noLinks: UnsafeMutablePointer<Atomic<UInt32>>
    /// Slots handed out so far (free ones included); ids are below it.
    let slotCount = Atomic<Int>(0)
    private var chunkCount = 0

    init(dimension: Int, m: Int, codes: Bool = false) {
        self.dimension = dimension
        codeStride = codes ? Int8Codes.stride(dimension: dimension) : 0
        maxLinks0 = 2 * m
        maxLinksUpper = m
        stride0 = maxLinks0 + 1
        vectorBytes = dimension * 4
        func aligned(_ n: Int) -> Int { (n + 63) & ~63 }
        codesOffset = aligned(Self.chunkSize * vectorBytes)
        codeFactorsOffset = aligned(codesOffset + Self.chunkSize * codeStride)
        layer0Offset = aligned(codeFactorsOffset + (codes ? Self.chunkSize * MemoryLayout<SIMD2<Float>>.stride : 0))
        statesOffset = aligned(layer0Offset + Self.chunkSize * stride0 * 4)
        levelsOffset = aligned(statesOffset + Self.chunkSize)
        upperOffset = aligned(levelsOffset + Self.chunkSize)
        chunkBytes = aligned(upperOffset + Self.chunkSize * MemoryLayout<UInt>.stride)
        noLinks = .allocate(capacity: 1)
        noLinks.initialize(to: Atomic(0))
        directory = .allocate(capacity: Self.maximumChunks)
        for index in 0..<Self.maximumChunks { (directory + index).initialize(to: Atomic(0)) }
    }

    deinit {
        let slots = slotCount.load(ordering: .relaxed)
        for id in 0..<UInt32(slots) { freeUpper(id) }
        for index in 0..<chunkCount {
            portal_unmap_nodes(UnsafeMutableRawPointer(bitPattern: directory[index].load(ordering: .relaxed)), chunkBytes)
        }
        directory.deinitialize(count: Self.maximumChunks)
        directory.deallocate()
        noLinks.deinitialize(count: 1)
        noLinks.deallocate()
    }

    /// Bytes allocated for nodes (vectors, links, states), for memory accounting.
    var allocatedBytes: Int { chunkCount * chunkBytes }

    // MARK: Addressing

    @inline(__always)
    private func chunk(_ id: UInt32) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: directory[Int(id) >> Self.chunkShift].load(ordering: .acquiring))!
    }

    @inline(__always)
    private func local(_ id: UInt32) -> Int { Int(id) & (Self.chunkSize - 1) }

    @inline(__always)
    func vector(_ id: UInt32) -> UnsafeMutablePointer<Float> {
        (chunk(id) + local(id) * vectorBytes).assumingMemoryBound(to: Float.self)
    }

    /// The int8 codes of `id` (`codeStride` of them). Only with codes.
    @inline(__always)
    func codes(_ id: UInt32) -> UnsafeMutablePointer<Int8> {
        (chunk(id) + codesOffset + local(id) * codeStride).assumingMemoryBound(to: Int8.self)
    }

    /// The scale of `id`'s codes and the squared norm of its vector. Only with codes.
    @inline(__always)
    func codeFactors(_ id: UInt32) -> SIMD2<Float> {
        (chunk(id) + codeFactorsOffset + local(id) * MemoryLayout<SIMD2<Float>>.stride).load(as: SIMD2<Float>.self)
    }

    @inline(__always)
    private func statePointer(_ id: UInt32) -> UnsafeMutablePointer<Atomic<UInt8>> {
        (chunk(id) + statesOffset + local(id)).assumingMemoryBound(to: Atomic<UInt8>.self)
    }

    @inline(__always)
    func state(_ id: UInt32) -> NodeState {
        NodeState(rawValue: statePointer(id).pointee.load(ordering: .acquiring)) ?? .free
    }

    @inline(__always)
    func setState(_ id: UInt32, _ state: NodeState) {
        statePointer(id).pointee.store(state.rawValue, ordering: .releasing)
    }

    @inline(__always)
    func level(_ id: UInt32) -> Int {
        Int((chunk(id) + levelsOffset + local(id)).load(as: UInt8.self))
    }

    @inline(__always)
    private func upperPointer(_ id: UInt32) -> UnsafeMutablePointer<Atomic<UInt>> {
        (chunk(id) + upperOffset + local(id) * MemoryLayout<UInt>.stride).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// The link block of `id` on `level`: a count followed by the ids, all atomics. A node
    /// without that layer (which a well-formed graph never asks for) reads as no links.
    @inline(__always)
    func links(_ id: UInt32, level: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        if level == 0 {
            return (chunk(id) + layer0Offset + local(id) * stride0 * 4).assumingMemoryBound(to: Atomic<UInt32>.self)
        }
        guard level <= self.level(id),
              let block = UnsafeMutablePointer<Atomic<UInt32>>(bitPattern: upperPointer(id).pointee.load(ordering: .acquiring))
        else { return noLinks }
        return block + (level - 1) * (maxLinksUpper + 1)
    }

    @inline(__always)
    func maxLinks(level: Int) -> Int { level == 0 ? maxLinks0 : maxLinksUpper }

    /// The ids linked from `id` on `level` (positions holding `noLink` skipped), as read now.
    func neighbors(_ id: UInt32, level: Int) -> [UInt32] {
        let block = links(id, level: level)
        let count = min(Int(block[0].load(ordering: .relaxed)), maxLinks(level: level))
        var result: [UInt32] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let neighbor = block[1 + index].load(ordering: .relaxed)
            if neighbor != Self.noLink { result.append(neighbor) }
        }
        return result
    }

    /// Writer only: replaces the links of `id` on `level`; unused positions get `noLink`.
    func setNeighbors(_ id: UInt32, level: Int, _ ids: some Collection<UInt32>) {
        precondition(level == 0 || level <= self.level(id), "node \(id) has no layer \(level)")
        let block = links(id, level: level)
        let maximum = maxLinks(level: level)
        precondition(ids.count <= maximum, "too many links")
        var index = 0
        for neighbor in ids {
            block[1 + index].store(neighbor, ordering: .relaxed)
            index += 1
        }
        for rest in index..<maximum { block[1 + rest].store(Self.noLink, ordering: .relaxed) }
        block[0].store(UInt32(ids.count), ordering: .releasing)
    }

    // MARK: Slots (writer only)

    /// Appends a slot (allocating a chunk when needed) and returns its id, in state `free`.
    func appendSlot() -> UInt32 {
        let id = slotCount.load(ordering: .relaxed)
        precondition(id < Self.maximumChunks << Self.chunkShift, "the index is full")
        if id >> Self.chunkShift == chunkCount {
            guard let memory = portal_map_nodes(chunkBytes) else { fatalError("out of memory: cannot map \(chunkBytes) bytes of graph nodes") }
            (memory + statesOffset).initializeMemory(as: UInt8.self, repeating: 0, count: Self.chunkSize)
            (memory + levelsOffset).initializeMemory(as: UInt8.self, repeating: 0, count: Self.chunkSize)
            (memory + upperOffset).initializeMemory(as: UInt.self, repeating: 0, count: Self.chunkSize)
            (memory + layer0Offset).initializeMemory(as: UInt32.self, repeating: 0, count: Self.chunkSize * stride0)
            directory[chunkCount].store(UInt(bitPattern: memory), ordering: .releasing)
            chunkCount += 1
        }
        slotCount.store(id + 1, ordering: .releasing)
        return UInt32(id)
    }

    /// Drops the last slot (a rolled-back append). It must be free.
    func removeLastSlot() {
        let id = slotCount.load(ordering: .relaxed) - 1
        freeUpper(UInt32(id))
        slotCount.store(id, ordering: .releasing)
    }

    /// Prepares a free slot for a node: writes its vector and level, empty links on every
    /// layer. Readers cannot act on the slot until its state is published.
    func occupy(_ id: UInt32, vector: UnsafeBufferPointer<Float>, level: Int) {
        precondition(vector.count == dimension)
        self.vector(id).update(from: vector.baseAddress!, count: dimension)
        if codeStride > 0 {
            let factors = Int8Codes.encodeNode(vector, into: codes(id), stride: codeStride)
            (chunk(id) + codeFactorsOffset + local(id) * MemoryLayout<SIMD2<Float>>.stride).storeBytes(of: factors, as: SIMD2<Float>.self)
        }
        (chunk(id) + levelsOffset + local(id)).storeBytes(of: UInt8(level), as: UInt8.self)
        freeUpper(id)
        if level > 0 {
            let block = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: level * (maxLinksUpper + 1))
            for index in 0..<level * (maxLinksUpper + 1) {
                (block + index).initialize(to: Atomic(index % (maxLinksUpper + 1) == 0 ? 0 : Self.noLink))
            }
            upperPointer(id).pointee.store(UInt(bitPattern: block), ordering: .releasing)
        }
        setNeighbors(id, level: 0, EmptyCollection())
    }

    private func freeUpper(_ id: UInt32) {
        let bits = upperPointer(id).pointee.exchange(0, ordering: .acquiringAndReleasing)
        guard let block = UnsafeMutablePointer<Atomic<UInt32>>(bitPattern: bits) else { return }
        block.deallocate()
    }

    /// Bytes held by links: layer 0 of every slot plus the upper-layer blocks.
    func linkBytes() -> Int {
        let slots = slotCount.load(ordering: .relaxed)
        var bytes = slots * stride0 * 4
        for id in 0..<UInt32(slots) where state(id) != .free {
            bytes += level(id) * (maxLinksUpper + 1) * 4
        }
        return bytes
    }
}
