import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Tools implemented in the portal, by the name a pack's `builtin` executor gives. Each
/// returns JSON. Host diagnostics read the kernel's own interfaces (`/proc`, `statvfs`,
/// `getaddrinfo`, `connect`) rather than parsing other programs' text. The TCP and HTTP checks
/// refuse addresses in `tools.denied_networks` before connecting (`AddressGuard`).
struct BuiltinTools: Sendable {
    let http: OutboundHTTP
    let addresses: AddressGuard

    init(http: OutboundHTTP, deniedNetworks: [NetworkRange]) {
        self.http = http
        addresses = AddressGuard(denied: deniedNetworks)
    }

    static let names: Set<String> = [
        "host.disk-usage", "host.memory", "host.load", "host.kernel", "host.dns-lookup", "host.tcp-check", "host.http-check", "host.signal-process",
    ]

    func run(_ name: String, input: JSONAny, limits: Tool.Limits) async throws -> ToolOutput {
        let result: JSONAny
        switch name {
        case "host.disk-usage": result = try Self.diskUsage(path: input["path"]?.string)
        case "host.memory": result = try Self.memory()
        case "host.load": result = try Self.load()
        case "host.kernel": result = Self.kernel()
        case "host.dns-lookup": result = try await onOwnThread("portal.builtin-tool") { try Self.lookup(input["name"]?.string ?? "") }
        case "host.tcp-check":
            let timeout = min(input["timeoutSeconds"]?.integer ?? 5, limits.timeoutSeconds)
            let addresses = addresses
            result = try await onOwnThread("portal.builtin-tool") {
                try Self.tcpCheck(host: input["host"]?.string ?? "", port: input["port"]?.integer ?? 0, timeoutSeconds: timeout, addresses: addresses)
            }
        case "host.http-check": result = try await httpCheck(url: input["url"]?.string ?? "", limits: limits)
        case "host.signal-process": result = try Self.signal(pid: input["pid"]?.integer ?? 0, name: input["signal"]?.string ?? "TERM")
        default: throw ToolError.invalidTool("no builtin tool '\(name)'")
        }
        var text = String(decoding: result.canonicalJSON, as: UTF8.self)
        let truncated = text.utf8.count > limits.maxOutputBytes
        if truncated { text = String(decoding: text.utf8.prefix(limits.maxOutputBytes), as: UTF8.self) }
        return ToolOutput(succeeded: true, text: text, json: truncated ? nil : result, error: "", exitCode: nil, truncated: truncated)
    }

    static func readFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ToolError.executionFailed("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Usage of every real file system (or of the one holding `path`).
    static func diskUsage(path: String?) throws -> JSONAny {
        let pseudo: Set<String> = ["proc", "sysfs", "devpts", "devtmpfs", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs", "securityfs",
                                   "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc", "nsfs", "rpc_pipefs", "efivarfs"]
        var mounts: [(device: String, mountPoint: String, type: String)] = []
        if let path {
            mounts = [("", path, "")]
        } else {
            for line in try readFile("/proc/mounts").split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 3, !pseudo.contains(String(fields[2])) else { continue }
                let mountPoint = String(fields[1]).replacing("\\040", with: " ")
                if !mounts.contains(where: { $0.mountPoint == mountPoint }) { mounts.append((String(fields[0]), mountPoint, String(fields[2]))) }
            }
        }
        var rows: [JSONAny] = []
        for mount in mounts {
            var stats = statvfs()
            guard statvfs(mount.mountPoint, &stats) == 0 else {
                if path != nil { throw ToolError.executionFailed("cannot read \(mount.mountPoint): \(String(cString: strerror(errno)))") }
                continue
            }
            let blockSize = Double(stats.f_frsize)
            let total = Double(stats.f_blocks) * blockSize, free = Double(stats.f_bfree) * blockSize, available = Double(stats.f_bavail) * blockSize
            guard total > 0 else { continue }
            let used = total - free
            rows.append(.object([
                "mountPoint": .string(mount.mountPoint), "device": .string(mount.device), "type": .string(mount.type),
                "totalBytes": .number(total), "usedBytes": .number(used), "availableBytes": .number(available),
                "usedPercent": .number(((used / (used + available)) * 1000).rounded() / 10),
                "inodesTotal": .number(Double(stats.f_files)), "inodesFree": .number(Double(stats.f_ffree)),
            ]))
        }
        return .object(["filesystems": .array(rows)])
    }

    /// `/proc/meminfo`, in bytes.
    static func memory() throws -> JSONAny {
        var values: [String: Double] = [:]
        for line in try readFile("/proc/meminfo").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let kilobytes = Double(parts[1].split(separator: " ").first ?? "") else { continue }
            values[String(parts[0])] = kilobytes * 1024
        }
        guard let total = values["MemTotal"], let available = values["MemAvailable"] else { throw ToolError.executionFailed("/proc/meminfo lacks MemTotal or MemAvailable") }
        return .object([
            "totalBytes": .number(total), "availableBytes": .number(available), "usedBytes": .number(total - available),
            "usedPercent": .number((((total - available) / total) * 1000).rounded() / 10),
            "swapTotalBytes": .number(values["SwapTotal"] ?? 0), "swapFreeBytes": .number(values["SwapFree"] ?? 0),
        ])
    }

    /// Load averages, uptime and CPU count.
    static func load() throws -> JSONAny {
        let load = try readFile("/proc/loadavg").split(separator: " ").prefix(3).compactMap { Double($0) }
        let uptime = Double(try readFile("/proc/uptime").split(separator: " ").first ?? "") ?? 0
        guard load.count == 3 else { throw ToolError.executionFailed("/proc/loadavg is not in the expected form") }
        return .object(["load1": .number(load[0]), "load5": .number(load[1]), "load15": .number(load[2]),
                        "uptimeSeconds": .number(uptime.rounded()), "cpus": .number(Double(sysconf(Int32(_SC_NPROCESSORS_ONLN))))])
    }

    static func kernel() -> JSONAny {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String { withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        return .object(["system": .string(field(name.sysname)), "hostname": .string(field(name.nodename)), "release": .string(field(name.release)),
                        "version": .string(field(name.version)), "machine": .string(field(name.machine))])
    }

    /// The addresses `getaddrinfo` gives for `name`.
    static func lookup(_ name: String) throws -> JSONAny {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let started = ContinuousClock.now
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let list else { return .object(["name": .string(name), "resolved": .bool(false), "error": .string(String(cString: gai_strerror(status)))]) }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            if let address = numericHost(entry.pointee.ai_addr, entry.pointee.ai_addrlen), !addresses.contains(address) { addresses.append(address) }
            cursor = entry.pointee.ai_next
        }
        return .object(["name": .string(name), "resolved": .bool(true), "addresses": .array(addresses.map { .string($0) }),
                        "milliseconds": .number(started.elapsedMilliseconds)])
    }

    /// Opens a TCP connection to `host:port` within the timeout and closes it; refuses a
    /// denied address before connecting.
    static func tcpCheck(host: String, port: Int, timeoutSeconds: Int, addresses: AddressGuard) throws -> JSONAny {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let started = ContinuousClock.now
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            return .object(["host": .string(host), "port": .number(Double(port)), "reachable": .bool(false), "error": .string(String(cString: gai_strerror(status)))])
        }
        defer { freeaddrinfo(list) }
        let entry = list.pointee
        guard let target = numericHost(entry.ai_addr, entry.ai_addrlen) else { throw ToolError.executionFailed("\(host) resolved to no usable address") }
        try addresses.check(target, for: host)
        let socket = Glibc.socket(entry.ai_family, entry.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), entry.ai_protocol)
        guard socket >= 0 else { throw ToolError.executionFailed("socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var error: String?
        if connect(socket, entry.ai_addr, entry.ai_addrlen) != 0 {
            if errno == EINPROGRESS {
                var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&descriptor, 1, Int32(timeoutSeconds * 1000))
                if ready == 0 {
                    error = "no answer within \(timeoutSeconds) s"
                } else {
                    var code: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(socket, SOL_SOCKET, SO_ERROR, &code, &length)
                    if code != 0 { error = String(cString: strerror(code)) }
                }
            } else {
                error = String(cString: strerror(errno))
            }
        }
        var result: [String: JSONAny] = ["host": .string(host), "port": .number(Double(port)), "reachable": .bool(error == nil),
                                         "milliseconds": .number(started.elapsedMilliseconds), "address": .string(target)]
        if let error { result["error"] = .string(error) }
        return .object(result)
    }

    /// Status and time of a GET (redirects are reported, not followed). The host is resolved
    /// and checked first, and the request goes to the address that was checked.
    func httpCheck(url: String, limits: Tool.Limits) async throws -> JSONAny {
        var client = http
        client.timeout = .seconds(min(limits.timeoutSeconds, 30))
        client.maximumBodyBytes = 1 << 20
        let started = ContinuousClock.now
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let rawHost = parsed.host, !rawHost.isEmpty
        else { return .object(["url": .string(url), "ok": .bool(false), "error": .string("not an http or https URL with a host")]) }
        let host = rawHost.hasPrefix("[") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let addresses = addresses
        let resolved = try await onOwnThread("portal.builtin-tool") { try addresses.resolve(host) }
        guard let address = resolved.address else {
            return .object(["url": .string(url), "ok": .bool(false), "error": .string("\(host) does not resolve: \(resolved.error ?? "")"),
                            "milliseconds": .number(started.elapsedMilliseconds)])
        }
        do {
            let response = try await client.send(url: url, method: "GET", headers: [("User-Agent", "portal-http-check")], body: nil, pinned: (rawHost, address))
            return .object(["url": .string(url), "address": .string(address), "status": .number(Double(response.status)), "ok": .bool((200..<400).contains(response.status)),
                            "milliseconds": .number(started.elapsedMilliseconds), "bytes": .number(Double(response.body.count)),
                            "contentType": response.contentType.map { .string($0) } ?? .null])
        } catch {
            return .object(["url": .string(url), "ok": .bool(false), "error": .string(error.description), "milliseconds": .number(started.elapsedMilliseconds)])
        }
    }

    /// Sends SIGTERM, SIGINT or SIGHUP to a process the portal may signal (never to itself or init).
    static func signal(pid: Int, name: String) throws -> JSONAny {
        let signals: [String: Int32] = ["TERM": SIGTERM, "INT": SIGINT, "HUP": SIGHUP]
        guard let number = signals[name] else { throw ToolError.invalidInput(InputError(problems: [InputProblem(field: "signal", message: "must be TERM, INT or HUP")])) }
        guard pid > 1, pid != Int(getpid()), pid <= Int(Int32.max) else {
            throw ToolError.invalidInput(InputError(problems: [InputProblem(field: "pid", message: "must be another process than init and the portal")]))
        }
        guard kill(pid_t(pid), number) == 0 else { throw ToolError.executionFailed("cannot signal process \(pid): \(String(cString: strerror(errno)))") }
        return .object(["pid": .number(Double(pid)), "signal": .string(name), "sent": .bool(true)])
    }

    static func numericHost(_ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String? {
        guard let address else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
