import CSpawn
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Runs one executable without a shell and waits for it, within bounds.
///
/// Guarantees: the argv is passed as given (no shell, no splitting); the child gets only the
/// environment it is handed, `/dev/null` as stdin, and `directory` as its working directory;
/// it runs in its own process group, which is killed (SIGKILL) when the deadline passes or
/// the output exceeds its limit, so grandchildren do not outlive it; neither Swift's
/// cooperative pool nor the global dispatch pool is blocked (each wait has its own thread).
public struct ProcessRunner: Sendable {
    public struct Outcome: Sendable, Equatable {
        public var exitCode: Int32?
        /// The signal that ended the process, when one did.
        public var signal: Int32?
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var timedOut: Bool
        /// The output went over the limit; what was read up to it is kept.
        public var truncated: Bool
    }

    public init() {}

    public func run(executable: String, arguments: [String], environment: [String: String], directory: String,
                    timeout: Duration, maxOutputBytes: Int) async throws(ToolError) -> Outcome {
        try await onOwnThread("portal.process") { () throws(ToolError) in
            try Self.spawnAndWait(executable: executable, arguments: arguments, environment: environment, directory: directory,
                                  timeout: timeout, maxOutputBytes: maxOutputBytes)
        }
    }

    private static func spawnAndWait(executable: String, arguments: [String], environment: [String: String], directory: String,
                                     timeout: Duration, maxOutputBytes: Int) throws(ToolError) -> Outcome {
        var stdoutPipe: [Int32] = [-1, -1], stderrPipe: [Int32] = [-1, -1]
        guard portal_pipe_cloexec(&stdoutPipe) == 0 else { throw .executionFailed("pipe: \(String(cString: strerror(errno)))") }
        guard portal_pipe_cloexec(&stderrPipe) == 0 else {
            close(stdoutPipe[0]); close(stdoutPipe[1])
            throw .executionFailed("pipe: \(String(cString: strerror(errno)))")
        }
        var pid: pid_t = 0
        let status = Self.spawn(&pid, executable: executable, arguments: arguments, environment: environment, directory: directory,
                                stdin: nil, stdout: stdoutPipe[1], stderr: stderrPipe[1])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard status == 0 else {
            close(stdoutPipe[0]); close(stderrPipe[0])
            throw .executionFailed("cannot start \(executable): \(String(cString: strerror(status)))")
        }

        var outcome = Outcome(exitCode: nil, signal: nil, stdout: [], stderr: [], timedOut: false, truncated: false)
        let deadline = ContinuousClock.now + timeout
        var open: [(fd: Int32, isStdout: Bool)] = [(stdoutPipe[0], true), (stderrPipe[0], false)]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var killed = false
        while !open.isEmpty {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                outcome.timedOut = true
                break
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(remaining.milliseconds + 1, 60_000))
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var closed: Set<Int32> = []
            for descriptor in fds where descriptor.revents != 0 {
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count <= 0 {
                    if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    closed.insert(descriptor.fd)
                    continue
                }
                let isStdout = open.first { $0.fd == descriptor.fd }!.isStdout
                let room = maxOutputBytes - outcome.stdout.count - outcome.stderr.count
                let chunk = buffer[0..<min(count, max(room, 0))]
                if isStdout { outcome.stdout += chunk } else { outcome.stderr += chunk }
                if count > room { outcome.truncated = true }
            }
            if outcome.truncated { break }
            for fd in closed { close(fd) }
            open.removeAll { closed.contains($0.fd) }
        }
        if !open.isEmpty {
            kill(-pid, SIGKILL)
            killed = true
            for descriptor in open { close(descriptor.fd) }
        }
        var waitStatus: Int32 = 0
        // The output is closed; the process may still be running: wait for it until the deadline.
        while !killed {
            let reaped = waitpid(pid, &waitStatus, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { break }
            if ContinuousClock.now >= deadline {
                outcome.timedOut = true
                kill(-pid, SIGKILL)
                killed = true
                break
            }
            usleep(2_000)
        }
        if killed {
            while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
            kill(-pid, SIGKILL)  // whatever the group left behind
        }
        let termination = waitStatus & 0x7F
        if termination == 0 {
            outcome.exitCode = (waitStatus >> 8) & 0xFF
        } else {
            outcome.signal = termination
        }
        return outcome
    }

    /// Starts `executable` without a shell, in a process group of its own (so the group can be
    /// killed whole) with its signal mask and handlers reset, in `directory`, with only
    /// `environment`; stdin from `stdin` (`nil`: /dev/null), stdout and stderr to the given
    /// descriptors. Returns posix_spawn's status (0: started, `pid` set).
    static func spawn(_ pid: inout pid_t, executable: String, arguments: [String], environment: [String: String], directory: String,
                      stdin: Int32?, stdout: Int32, stderr: Int32) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        portal_spawn_file_actions_addchdir(&actions, directory)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // ETXTBSY: another thread's child, forked while the executable was open for writing,
        // still holds it; that descriptor closes at the child's exec, within moments.
        for _ in 0..<50 where status == ETXTBSY {
            usleep(10_000)
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        return status
    }
}
