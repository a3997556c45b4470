import Synchronization

/// Tells the writer when every search that might still hold a node has finished, without
/// searches taking a lock: each search counts itself in one of two counters for the epoch in
/// which it began; the writer advances the epoch only once the counter of the epoch before
/// the current one has drained to zero.
///
/// So while the epoch is `e`, only searches that began in `e - 1` or `e` can be running, and
/// a node cut out of the graph while the epoch was `u` can be reused once the epoch reaches
/// `u + 2`: every search that began before the cut has ended by then.
final class ReaderEpochs: Sendable {
    private let epoch = Atomic<UInt64>(0)
    private let evenReaders = Atomic<Int>(0)
    private let oddReaders = Atomic<Int>(0)

    private func add(_ delta: Int, for epoch: UInt64) {
        if epoch & 1 == 0 {
            evenReaders.wrappingAdd(delta, ordering: .sequentiallyConsistent)
        } else {
            oddReaders.wrappingAdd(delta, ordering: .sequentiallyConsistent)
        }
    }

    private func count(for epoch: UInt64) -> Int {
        epoch & 1 == 0
            ? evenReaders.load(ordering: .sequentiallyConsistent)
            : oddReaders.load(ordering: .sequentiallyConsistent)
    }

    /// Registers a search; pass the result to `exit`.
    func enter() -> UInt64 {
        while true {
            let current = epoch.load(ordering: .sequentiallyConsistent)
            add(1, for: current)
            if epoch.load(ordering: .sequentiallyConsistent) == current { return current }
            add(-1, for: current)
        }
    }

    func exit(_ entered: UInt64) {
        add(-1, for: entered)
    }

    /// The current epoch (writer).
    var current: UInt64 { epoch.load(ordering: .sequentiallyConsistent) }

    /// Writer only: advances the epoch if no search of the previous epoch is running; returns
    /// the epoch now current.
    @discardableResult
    func tryAdvance() -> UInt64 {
        let current = epoch.load(ordering: .sequentiallyConsistent)
        guard count(for: current &- 1) == 0 else { return current }
        epoch.store(current + 1, ordering: .sequentiallyConsistent)
        return current + 1
    }
}
