import CLMDB
import CZlib
import FoundationEssentials
import Glibc

/// Hot backups of an environment and their restore.
///
/// A backup file is: a 24-byte header (`PORTALBK`, format 1, the schema version, the creation
/// time), a gzip stream of a compacted copy of `data.mdb` taken in one read snapshot
/// (`mdb_env_copy2` with `MDB_CP_COMPACT`, so writers continue meanwhile), the payload length,
/// and a SHA-256 of everything before it. Restore refuses a file whose checksum, magic or
/// format does not match, and never writes into a directory that already holds data.
public enum Backup {
    /// What a backup file says about itself.
    public struct Header: Sendable, Equatable {
        public let schemaVersion: Int
        public let createdAtMilliseconds: UInt64
        public let payloadBytes: UInt64
    }

    static let magic = Array("PORTALBK".utf8)
    static let format: UInt32 = 1
    static let headerSize = 24
    static let trailerSize = 8 + 32

    /// Writes a backup of `environment` to `path` (atomically: a partial file is never left under
    /// that name) and returns its header.
    public static func create(of environment: Environment, to path: String, schemaVersion: Int) throws -> Header {
        let staging = try makeStagingDirectory(near: path)
        defer { removeDirectory(staging) }
        let status = environment.mapLock.withShared { () -> Int32 in
            guard !environment.isClosed else { return EINVAL }
            return mdb_env_copy2(environment.handle, staging, UInt32(MDB_CP_COMPACT))
        }
        try KVError.check(status, "mdb_env_copy2")

        let partial = path + ".partial"
        let output = try FileDescriptor.create(partial)
        defer { output.close() }
        let digest = SHA256()
        var header: [UInt8] = magic
        append(UInt32(format), to: &header)
        append(UInt32(schemaVersion), to: &header)
        let created = ExpiryTables.milliseconds(Date())
        append(created, to: &header)
        try output.write(header)
        digest.update(header)

        let input = try FileDescriptor.open(staging + "/data.mdb")
        defer { input.close() }
        var payloadBytes: UInt64 = 0
        var offset = 0
        try Gzip.compress(read: { () throws(KVError) in
            let chunk = try input.read(at: offset, count: Gzip.chunkSize)
            offset += chunk.count
            return chunk
        }, write: { (chunk) throws(KVError) in
            try output.write(chunk)
            digest.update(chunk)
            payloadBytes += UInt64(chunk.count)
        })
        var length: [UInt8] = []
        append(payloadBytes, to: &length)
        try output.write(length)
        digest.update(length)
        try output.write(digest.finish())
        try output.sync()
        guard rename(partial, path) == 0 else { throw KVError.invalidFile(path: path, reason: "cannot rename the backup into place: \(errnoText())") }
        return Header(schemaVersion: schemaVersion, createdAtMilliseconds: created, payloadBytes: payloadBytes)
    }

    /// Reads and checks a backup's header and checksum without restoring it.
    public static func verify(_ path: String) throws -> Header {
        let input = try FileDescriptor.open(path)
        defer { input.close() }
        let size = try input.size()
        guard size >= headerSize + trailerSize else { throw KVError.invalidFile(path: path, reason: "too short to be a portal backup") }
        let header = try input.read(at: 0, count: headerSize)
        guard Array(header[0..<8]) == magic else { throw KVError.invalidFile(path: path, reason: "not a portal backup") }
        guard readUInt32(header, at: 8) == format else { throw KVError.invalidFile(path: path, reason: "unknown backup format \(readUInt32(header, at: 8))") }
        let digest = SHA256()
        var offset = 0
        let checked = size - 32
        while offset < checked {
            let chunk = try input.read(at: offset, count: min(1 << 20, checked - offset))
            digest.update(chunk)
            offset += chunk.count
        }
        let stored = try input.read(at: checked, count: 32)
        guard digest.finish() == stored else { throw KVError.invalidFile(path: path, reason: "checksum mismatch: the backup is damaged") }
        let trailer = try input.read(at: size - trailerSize, count: 8)
        let payloadBytes = readUInt64(trailer, at: 0)
        guard payloadBytes == UInt64(size - headerSize - trailerSize) else {
            throw KVError.invalidFile(path: path, reason: "payload length does not match the file")
        }
        return Header(schemaVersion: Int(readUInt32(header, at: 12)), createdAtMilliseconds: readUInt64(header, at: 16), payloadBytes: payloadBytes)
    }

    /// Restores the backup at `path` into `directory`, which must not hold a `data.mdb` yet.
    /// Checks the whole file's checksum, and that its schema is not newer than
    /// `supportedSchemaVersion`, before writing anything.
    public static func restore(from path: String, into directory: String, supportedSchemaVersion: Int) throws -> Header {
        let header = try verify(path)
        guard header.schemaVersion <= supportedSchemaVersion else {
            throw KVError.schemaTooNew(found: header.schemaVersion, supported: supportedSchemaVersion)
        }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw KVError.invalidFile(path: directory, reason: "cannot create the data directory: \(errnoText())")
        }
        let target = directory + "/data.mdb"
        guard access(target, F_OK) != 0 else {
            throw KVError.invalidFile(path: directory, reason: "already holds data (data.mdb); restore only into an empty data directory")
        }
        let input = try FileDescriptor.open(path)
        defer { input.close() }
        let partial = target + ".partial"
        let output = try FileDescriptor.create(partial)
        defer { output.close() }
        var consumed = 0
        try Gzip.decompress(read: { () throws(KVError) in
            let chunk = try input.read(at: headerSize + consumed, count: min(Gzip.chunkSize, Int(header.payloadBytes) - consumed))
            consumed += chunk.count
            return chunk
        }, write: { (chunk) throws(KVError) in try output.write(chunk) })
        try output.sync()
        guard rename(partial, target) == 0 else { throw KVError.invalidFile(path: target, reason: "cannot rename into place: \(errnoText())") }
        return header
    }

    private static func makeStagingDirectory(near path: String) throws -> String {
        let parent = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var template = Array((parent.isEmpty ? "/" : parent) .utf8CString.dropLast()) + Array("/.portal-backup-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else {
            throw KVError.invalidFile(path: path, reason: "cannot create a staging directory beside the backup: \(errnoText())")
        }
        return String(cString: result)
    }

    private static func removeDirectory(_ path: String) {
        for name in ["data.mdb", "lock.mdb"] { unlink(path + "/" + name) }
        rmdir(path)
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }


/// A file descriptor with the few operations backups need; errors name the path.
struct FileDescriptor {
    let descriptor: Int32
    let path: String

    static func open(_ path: String) throws(KVError) -> FileDescriptor {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .invalidFile(path: path, reason: "cannot open: \(errnoText())") }
        return FileDescriptor(descriptor: descriptor, path: path)
    }

    static func create(_ path: String) throws(KVError) -> FileDescriptor {
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .invalidFile(path: path, reason: "cannot create: \(errnoText())") }
        return FileDescriptor(descriptor: descriptor, path: path)
    }

    func close() { _ = Glibc.close(descriptor) }

    func size() throws(KVError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .invalidFile(path: path, reason: "cannot stat: \(errnoText())") }
        return Int(info.st_size)
    }

    func write(_ bytes: [UInt8]) throws(KVError) {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .invalidFile(path: path, reason: "cannot write: \(errnoText())") }
            written += count
        }
    }

    /// Up to `count` bytes from `offset`; fewer only at the end of the file.
    func read(at offset: Int, count: Int) throws(KVError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer[filled...].withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset + filled)) }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw .invalidFile(path: path, reason: "cannot read: \(errnoText())") }
            if got == 0 { break }
            filled += got
        }
        return Array(buffer[..<filled])
    }

    func sync() throws(KVError) {
        guard fsync(descriptor) == 0 else { throw .invalidFile(path: path, reason: "cannot sync: \(errnoText())") }
    }
}
