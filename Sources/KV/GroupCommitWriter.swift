import CLMDB
import Dispatch
import Synchronization

/// The one writer of an environment. Concurrent `Environment.write(_:)` calls are queued;
/// whatever is queued when the writer becomes free runs as one batch in one LMDB write
/// transaction, with one commit (and so one fsync) for all of them.
///
/// Each request runs in its own nested transaction inside the batch: a request that throws
/// is rolled back alone and its caller gets the error, while the others commit. Callers are
/// resumed only after the batch's commit returned, so an acknowledged write is durable.
///
/// When a batch fills the map, the whole batch is aborted, the map grows, and the batch is
/// run again from the start; request bodies must therefore have no effects outside the
/// transaction, or undo them in an `onRollback` hook.
final class GroupCommitWriter: Sendable {
    /// A queued request: `run` applies its body to a transaction; `fail` resumes its caller
    /// with an error when the batch could not commit.
    struct Request: Sendable {
        let run: @Sendable (borrowing WriteTransaction) -> Outcome
        let fail: @Sendable (any Error) -> Void
    }

    /// What a request's body did. `resume` hands the body's value or error to the caller; it is
    /// called only after the batch committed.
    struct Outcome {
        let error: (any Error)?
        let resume: @Sendable () -> Void
    }

    private let queue = DispatchQueue(label: "portal.kv.writer", qos: .userInitiated)
    private let pending = Mutex<[Request]>([])
    let statistics = Mutex(WriterStatistics())

    func enqueue(_ request: Request, environment: Environment) {
        let isFirst = pending.withLock { requests in
            requests.append(request)
            return requests.count == 1
        }
        // One drain per empty-to-non-empty transition: requests that arrive while a batch is
        // committing wait for the next drain and form the next batch together.
        if isFirst {
            queue.async { [environment] in self.drain(environment) }
        }
    }

    /// Requests queued and not yet taken into a batch.
    var pendingCount: Int { pending.withLock { $0.count } }

    /// Waits for every queued batch to finish. New requests must not arrive afterwards.
    func drainAndStop() {
        queue.sync {}
    }

    private func drain(_ environment: Environment) {
        let batch = pending.withLock { requests in
            defer { requests.removeAll(keepingCapacity: true) }
            return requests
        }
        guard !batch.isEmpty else { return }
        let started = ContinuousClock.now
        let result: Result<[Outcome], any Error>
        do {
            result = .success(try commitGrowingMap(batch, environment))
        } catch {
            result = .failure(error)
        }
        let elapsed = ContinuousClock.now - started
        statistics.withLock { $0.record(batchSize: batch.count, commitDuration: elapsed) }
        switch result {
        case let .success(outcomes):
            for outcome in outcomes { outcome.resume() }
        case let .failure(error):
            // The batch did not commit: every request fails, including those whose body succeeded.
            for request in batch { request.fail(error) }
        }
    }

    private func commitGrowingMap(_ batch: [Request], _ environment: Environment) throws -> [Outcome] {
        while true {
            do {
                return try commitOnce(batch, environment)
            } catch let error as KVError where error.isMapFull {
                try environment.growMap()
            }
        }
    }

    /// Runs the batch in one transaction. Throws `KVError.lmdb(_, MDB_MAP_FULL)` when any part of
    /// it (a request's body or the commit) ran out of map space, so the caller can grow and retry.
    /// Every path that discards a request's changes runs its rollback hooks; commit hooks run
    /// only after the batch committed.
    private func commitOnce(_ batch: [Request], _ environment: Environment) throws -> [Outcome] {
        try environment.mapLock.withShared {
            try environment.ensureOpen()
            var parent: OpaquePointer?
            try KVError.check(mdb_txn_begin(environment.handle, nil, 0, &parent), "mdb_txn_begin(write)")
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(batch.count)
            var kept: [TransactionHooks] = []
            func abandon(_ error: KVError) -> KVError {
                for hooks in kept.reversed() { hooks.runRolledBack() }
                mdb_txn_abort(parent)
                return error
            }
            for request in batch {
                var child: OpaquePointer?
                let status = mdb_txn_begin(environment.handle, parent, 0, &child)
                guard status == MDB_SUCCESS, let child else {
                    throw abandon(KVError.lmdb(operation: "mdb_txn_begin(nested)", code: status))
                }
                let hooks = TransactionHooks()
                let outcome = request.run(WriteTransaction(txn: child, hooks: hooks))
                if let error = outcome.error as? KVError, error.isMapFull {
                    mdb_txn_abort(child)
                    hooks.runRolledBack()
                    throw abandon(KVError.lmdb(operation: "write", code: MDB_MAP_FULL))
                }
                if outcome.error == nil {
                    let status = mdb_txn_commit(child)
                    guard status == MDB_SUCCESS else {
                        hooks.runRolledBack()
                        throw abandon(KVError.lmdb(operation: "mdb_txn_commit(nested)", code: status))
                    }
                    kept.append(hooks)
                } else {
                    mdb_txn_abort(child)
                    hooks.runRolledBack()
                }
                outcomes.append(outcome)
            }
            let status = mdb_txn_commit(parent)
            guard status == MDB_SUCCESS else {
                // A failed commit has already freed the transaction.
                for hooks in kept.reversed() { hooks.runRolledBack() }
                throw KVError.lmdb(operation: "mdb_txn_commit", code: status)
            }
            for hooks in kept { hooks.runCommitted() }
            return outcomes
        }
    }
}

/// Counters the writer keeps for metrics: how many batches and writes it committed, how large
/// the batches were, and how long commits took.
public struct WriterStatistics: Sendable {
    public private(set) var batches = 0
    public private(set) var writes = 0
    public private(set) var largestBatch = 0
    public private(set) var totalCommitDuration = Duration.zero

    mutating func record(batchSize: Int, commitDuration: Duration) {
        batches += 1
        writes += batchSize
        largestBatch = max(largestBatch, batchSize)
        totalCommitDuration += commitDuration
    }
}
