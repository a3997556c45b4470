import Glibc

/// Whether the environment can take writes: it is open, and its file system is writable and
/// has at least `minimumFreeBytes` free. `/readyz` reports it.
public struct StorageHealth: Sendable, Equatable {
    public let isOpen: Bool
    public let isFileSystemWritable: Bool
    public let freeBytes: UInt64
    /// Below this much free space the data directory is reported not ready.
    public let minimumFreeBytes: UInt64

    /// The default threshold (`storage.min_free_mb`): room for a few large batches and the
    /// map to grow once.
    public static let defaultMinimumFreeBytes: UInt64 = 16 << 20

    /// Why the storage is not ready, or `nil` when it is.
    public enum Problem: String, Sendable {
        case closed = "unavailable"
        case readOnly = "read_only"
        case lowDisk = "low_disk"
    }

    public var problem: Problem? {
        if !isOpen { return .closed }
        if !isFileSystemWritable { return .readOnly }
        if freeBytes < minimumFreeBytes { return .lowDisk }
        return nil
    }

    public var isReady: Bool { problem == nil }
}

extension Environment {
    /// Checks the environment and its file system without writing: open, not on a read-only
    /// mount or directory, and with at least `minimumFreeBytes` available to the portal.
    public func health(minimumFreeBytes: UInt64 = StorageHealth.defaultMinimumFreeBytes) -> StorageHealth {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            return StorageHealth(isOpen: !isClosed, isFileSystemWritable: false, freeBytes: 0, minimumFreeBytes: minimumFreeBytes)
        }
        let readOnly = stats.f_flag & UInt(ST_RDONLY) != 0
        return StorageHealth(
            isOpen: !isClosed,
            isFileSystemWritable: !readOnly && access(path, W_OK) == 0,
            freeBytes: UInt64(stats.f_bavail) * UInt64(stats.f_frsize),
            minimumFreeBytes: minimumFreeBytes
        )
    }
}
