import Glibc

/// Whether the environment can take writes: it is open, and its file system is writable and
/// not full. `/readyz` reports it.
public struct StorageHealth: Sendable, Equatable {
    public let isOpen: Bool
    public let isFileSystemWritable: Bool
    public let freeBytes: UInt64

    /// Below this much free space the data directory is reported not ready.
    public static let minimumFreeBytes: UInt64 = 16 << 20

    public var isReady: Bool { isOpen && isFileSystemWritable && freeBytes >= Self.minimumFreeBytes }
}

extension Environment {
    /// Checks the environment and its file system without writing.
    public func health() -> StorageHealth {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            return StorageHealth(isOpen: !isClosed, isFileSystemWritable: false, freeBytes: 0)
        }
        let readOnly = stats.f_flag & UInt(ST_RDONLY) != 0
        return StorageHealth(
            isOpen: !isClosed,
            isFileSystemWritable: !readOnly && access(path, W_OK) == 0,
            freeBytes: UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        )
    }
}
