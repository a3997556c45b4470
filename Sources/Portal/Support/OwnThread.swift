import Dispatch

/// Runs blocking work (waiting on a process, DNS, a connect) on a thread of its own and
/// awaits it. A private serial queue overcommits: it gets a new thread even when the global
/// pool's few threads (one per core) are all blocked, and Swift's cooperative pool is never
/// blocked at all.
func onOwnThread<T: Sendable, Failure: Error>(_ label: String, _ work: @escaping @Sendable () throws(Failure) -> T) async throws(Failure) -> T {
    let result: Result<T, Failure> = await withCheckedContinuation { continuation in
        DispatchQueue(label: label).async { continuation.resume(returning: Result { () throws(Failure) in try work() }) }
    }
    return try result.get()
}
