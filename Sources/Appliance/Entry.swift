import ArgumentParser
import CPUFeatures
import Glibc

/// Process entry point. The CPU check comes first: the vector kernels are compiled for
/// x86-64-v3, and an older CPU would otherwise die later with an illegal-instruction signal.
@main
enum Entry {
    static func main() async {
        guard portal_cpu_supports_x86_64_v3() != 0 else {
            printError("portal: this CPU lacks x86-64-v3 (AVX2 and FMA), which portal requires; run it on a CPU from 2015 or later (Intel Haswell, AMD Excavator/Zen or newer).")
            exit(3)
        }
        // The Swift runtime reads the command line from /proc/self/cmdline; without /proc it sees
        // no arguments at all, and `portal version` would silently start a server instead.
        guard !CommandLine.arguments.isEmpty else {
            printError("portal: cannot read the command line: is /proc mounted?")
            exit(2)
        }
        await PortalCommand.main()
    }
}
