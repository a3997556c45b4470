/// A binary heap of (distance, id) pairs: a min-heap for the candidates still to expand, a
/// max-heap for the best results so far (its top is the worst kept result). One type serves
/// both, chosen at construction.
struct DistanceHeap {
    struct Entry {
        var distance: Float
        var id: UInt32
    }

    private(set) var entries: [Entry] = []
    private let isMaxHeap: Bool

    init(maxHeap: Bool, capacity: Int = 0) {
        isMaxHeap = maxHeap
        entries.reserveCapacity(capacity)
    }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    var top: Entry? { entries.first }

    @inline(__always)
    private func ordered(_ a: Entry, _ b: Entry) -> Bool {
        isMaxHeap ? a.distance > b.distance : a.distance < b.distance
    }

    /// - Complexity: O(log n)
    mutating func push(_ distance: Float, _ id: UInt32) {
        entries.append(Entry(distance: distance, id: id))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard ordered(entries[child], entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// - Complexity: O(log n)
    @discardableResult
    mutating func pop() -> Entry? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return first }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < entries.count && ordered(entries[left], entries[best]) { best = left }
            if right < entries.count && ordered(entries[right], entries[best]) { best = right }
            if best == parent { break }
            entries.swapAt(parent, best)
            parent = best
        }
        return first
    }

    /// The entries from closest to farthest.
    func sortedByDistance() -> [Entry] {
        entries.sorted { $0.distance < $1.distance }
    }
}

/// Marks which nodes a search has visited. Clearing is O(1): each search gets a new tag, and
/// the array is only reset when the 32-bit tag wraps.
struct VisitedSet {
    private var tags: [UInt32] = []
    private var current: UInt32 = 0

    mutating func begin(capacity: Int) {
        if tags.count < capacity { tags.append(contentsOf: repeatElement(0, count: capacity - tags.count)) }
        current &+= 1
        if current == 0 {
            for index in tags.indices { tags[index] = 0 }
            current = 1
        }
    }

    /// Marks `id`; returns whether it was unvisited. Grows when the graph grew during the search.
    @inline(__always)
    mutating func insert(_ id: UInt32) -> Bool {
        if Int(id) >= tags.count { tags.append(contentsOf: repeatElement(0, count: Int(id) + 1 - tags.count)) }
        if tags[Int(id)] == current { return false }
        tags[Int(id)] = current
        return true
    }
}
